"""Coverage: how many samples the studio's database holds per taxonomy node, against the paper's target."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

from studio.samples import rollup_counts
from studio.taxonomy.tree import TaxonomyForest

if TYPE_CHECKING:
    from studio.samples import SampleStore


@dataclass(frozen=True)
class NodeCoverage:
    """Samples held for one node (``samples`` includes descendants; ``own`` is tagged with exactly this id)."""

    node_id: str
    title: str
    target: int | None
    samples: int
    own: int

    @property
    def ratio(self) -> float | None:
        """samples / target, or None when the paper gives no target (or a zero one)."""
        return self.samples / self.target if self.target else None

    @property
    def remaining(self) -> int | None:
        return max(self.target - self.samples, 0) if self.target is not None else None

    def summary(self) -> str:
        """'12 of 2,000 (0.6%)' or '12 (no paper target)'."""
        if self.target is None:
            return f"{self.samples:,} (no paper target)"
        pct = f" ({self.ratio:.1%})" if self.ratio is not None else ""
        return f"{self.samples:,} of {self.target:,}{pct}"


def compute_coverage(forest: TaxonomyForest, counts: Mapping[str, int]) -> dict[str, NodeCoverage]:
    """Coverage of every node from per-id sample counts (as returned by ``count_by_taxonomy``)."""
    ids = forest.ids()
    totals = rollup_counts(dict(counts), ids)
    return {
        n.id: NodeCoverage(n.id, n.title, n.target_count, totals.get(n.id, 0), int(counts.get(n.id, 0)))
        for n in forest
    }


def coverage_from_store(
    forest: TaxonomyForest, store: "SampleStore", dataset: str | None = None
) -> tuple[dict[str, NodeCoverage], dict[str, int]]:
    """Coverage read from the database now, plus the sample counts of ids no node has."""
    counts = store.count_by_taxonomy(dataset)
    return compute_coverage(forest, counts), unknown_sample_ids(forest, counts)


def module_coverage(forest: TaxonomyForest, node_id: str, coverage: Mapping[str, NodeCoverage]) -> list[NodeCoverage]:
    """One row per child of the node (the node itself when it is a leaf), in file order."""
    node = forest.get(node_id)
    members = node.children or [node]
    return [coverage[m.id] for m in members]


def unknown_sample_ids(forest: TaxonomyForest, counts: Mapping[str, int]) -> dict[str, int]:
    """Taxonomy ids found on samples that name no node (typos, removed nodes): shown, never dropped."""
    return {tid: n for tid, n in sorted(counts.items()) if tid not in forest}
