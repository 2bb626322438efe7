"""What the Taxonomy tab shows, as plain values: tree rows, the node card (escaped HTML), chart data."""
from __future__ import annotations

import html
from typing import Iterable, Mapping

import pandas as pd

from studio.taxonomy import NodeCoverage, TaxonomyForest, TaxonomyNode, module_coverage

TREE_HEADERS = ["Node", "Id", "Target", "Samples", "Coverage"]
SERIES_HELD = "samples held"
SERIES_NEEDED = "still needed for the paper target"
CHART_COLORS = {SERIES_HELD: "#2563eb", SERIES_NEEDED: "#cbd5e1"}
_INDENT = "\u2003\u2003"  # em spaces: HTML does not collapse them, so the tree keeps its shape


def node_choices(forest: TaxonomyForest | None) -> list[tuple[str, str]]:
    """(label, id) pairs for the node picker, in tree order."""
    if forest is None:
        return []
    return [(f"{n.title} — {n.id}", n.id) for n in forest]


def _percent(cov: NodeCoverage) -> str:
    return f"{cov.ratio:.1%}" if cov.ratio is not None else "—"


def tree_rows(
    forest: TaxonomyForest | None, coverage: Mapping[str, NodeCoverage], only: Iterable[TaxonomyNode] | None = None
) -> list[list[str]]:
    """Rows of the tree table; with ``only``, just those nodes plus their ancestors for context."""
    if forest is None:
        return []
    keep: set[str] | None = None
    if only is not None:
        keep = set()
        for node in only:
            keep.add(node.id)
            keep.update(a.id for a in node.ancestors())
    rows = []
    for node in forest:
        if keep is not None and node.id not in keep:
            continue
        cov = coverage.get(node.id)
        marker = "▸ " if node.children else "• "
        rows.append([
            _INDENT * node.depth + marker + node.title,
            node.id,
            f"{node.target_count:,}" if node.target_count is not None else "—",
            f"{cov.samples:,}" if cov else "0",
            _percent(cov) if cov else "—",
        ])
    return rows


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _row(label: str, value_html: str) -> str:
    return f"<tr><th style='text-align:left;padding-right:1em;vertical-align:top'>{_esc(label)}</th><td>{value_html}</td></tr>"


def node_card(node: TaxonomyNode, cov: NodeCoverage | None) -> str:
    """The selected node's details; every piece of file text is escaped, none is trusted as HTML."""
    parts = [
        f"<div class='taxonomy-card' data-node-id='{_esc(node.id)}'>",
        f"<h3 style='margin:0'>{_esc(node.title)}</h3>",
        f"<p style='margin:.2em 0'><code>{_esc(node.id)}</code>"
        + (f" · {_esc(node.kind)}" if node.kind else "") + "</p>",
        f"<p class='taxonomy-definition'>{_esc(node.definition)}</p>",
    ]
    if node.definition_source == "studio":
        parts.append("<p><small>The paper only names this node; this definition is the studio's reading of the name.</small></p>")
    rows = []
    target = f"{node.target_count:,}" if node.target_count is not None else "none given by the paper"
    rows.append(_row("Paper target count", f"<span class='taxonomy-target'>{_esc(target)}</span>"))
    if cov is not None:
        held = f"{cov.samples:,}"
        if cov.own != cov.samples:
            held += f" ({cov.own:,} tagged with this node itself, the rest below it)"
        rows.append(_row("Samples in the studio", _esc(held)))
        rows.append(_row("Coverage", _esc(cov.summary())))
    if node.children:
        rows.append(_row("Listed subtasks", _esc(f"{node.listed_subtasks} (in {len(node.children)} direct children)")))
        listed = node.listed_target_total()
        if listed is not None:
            rows.append(_row("Children's targets add up to", _esc(f"{listed:,}")))
    if node.claimed_subtasks is not None:
        rows.append(_row("Subtasks the paper claims", _esc(node.claimed_subtasks)))
    if node.claimed_categories is not None:
        rows.append(_row("Categories the paper claims", _esc(node.claimed_categories)))
    if node.built_from:
        rows.append(_row("Built from", _esc(node.built_from)))
    if node.source:
        rows.append(_row("Source in the paper", _esc(node.source)))
    rows.append(_row("Defined in", _esc(node.file.name)))
    parts.append("<table>" + "".join(rows) + "</table>")
    problems = node.discrepancies()
    if problems:
        parts.append("<p><b>The paper's numbers disagree:</b></p><ul class='taxonomy-discrepancies'>"
                     + "".join(f"<li>⚠ {_esc(p)}</li>" for p in problems) + "</ul>")
    if node.notes:
        parts.append("<p><b>Notes</b></p><ul>" + "".join(f"<li>{_esc(n)}</li>" for n in node.notes) + "</ul>")
    if node.examples:
        parts.append("<p><b>Examples named by the paper:</b> " + _esc(", ".join(node.examples)) + "</p>")
    if node.vocabulary:
        preview = "; ".join(node.vocabulary[:12])
        parts.append(
            f"<p><b>Vocabulary:</b> {len(node.vocabulary):,} entries from {_esc(node.vocabulary_file)} "
            f"(first: {_esc(preview)} …)</p>"
        )
    parts.append("</div>")
    return "".join(parts)


def chart_module(forest: TaxonomyForest, node_id: str) -> TaxonomyNode:
    """The module a chart shows for a selection: the node itself, or its parent for a leaf."""
    node = forest.get(node_id)
    return node if node.children or node.parent is None else node.parent


def chart_frame(forest: TaxonomyForest, node_id: str, coverage: Mapping[str, NodeCoverage]) -> pd.DataFrame:
    """Stacked bars per child of the module: samples held, and what is still needed to reach the target."""
    module = chart_module(forest, node_id)
    records = []
    for cov in module_coverage(forest, module.id, coverage):
        # both series on every bar (0 when there is no target): the plot fixes its colours from the
        # first data it draws, so a series missing then would stay invisible later
        records.append({"subtask": cov.title, "series": SERIES_HELD, "samples": cov.samples, "id": cov.node_id})
        records.append({"subtask": cov.title, "series": SERIES_NEEDED, "samples": cov.remaining or 0, "id": cov.node_id})
    return pd.DataFrame.from_records(records, columns=["subtask", "series", "samples", "id"])


def unknown_ids_note(unknown: Mapping[str, int]) -> str:
    """A line about samples whose taxonomy id names no node (escaped HTML; empty when none)."""
    if not unknown:
        return ""
    total = sum(unknown.values())
    listed = ", ".join(f"{tid} ({n})" for tid, n in list(unknown.items())[:8])
    more = " …" if len(unknown) > 8 else ""
    return _esc(f"{total:,} samples carry taxonomy ids that name no node: {listed}{more}")


def error_html(message: str) -> str:
    """The loader's message (file, path, problem) and what to do about it."""
    return (
        "<div class='studio-error'><b>The taxonomy files could not be loaded.</b> Fix the file and press "
        f"“Reload taxonomy files”.<pre style='white-space:pre-wrap'>{html.escape(message)}</pre></div>"
    )


def status_html(forest: TaxonomyForest, unknown: Mapping[str, int], extra: str = "") -> str:
    """One line under the search: what is loaded, what the search found, samples naming no node."""
    parts = [html.escape(f"{len(forest):,} nodes in {len(forest.roots)} taxonomies from {len(forest.files)} files "
                         f"({forest.source}).")]
    if extra:
        parts.append(html.escape(extra))
    note = unknown_ids_note(unknown)
    if note:
        parts.append(f"<span class='studio-error'>{note}</span>")
    return "<p>" + " ".join(parts) + "</p>"
