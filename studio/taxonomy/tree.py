"""The loaded taxonomies as a tree: nodes with stable path ids, lookup, search and flattening."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator


@dataclass(eq=False)
class TaxonomyNode:
    """One node; ``id`` is the '/'-joined path of keys from the root (e.g. ``opengpt4o/gen/spatial``)."""

    id: str
    key: str
    title: str
    definition: str
    file: Path
    definition_source: str = "paper"
    kind: str | None = None
    target_count: int | None = None
    claimed_subtasks: int | None = None
    claimed_categories: int | None = None
    source: str | None = None
    built_from: str | None = None
    notes: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    vocabulary_file: str | None = None
    vocabulary: tuple[str, ...] = ()
    parent: "TaxonomyNode | None" = field(default=None, repr=False)
    children: list["TaxonomyNode"] = field(default_factory=list, repr=False)

    @property
    def is_leaf(self) -> bool:
        return not self.children

    @property
    def depth(self) -> int:
        return self.id.count("/")

    @property
    def root_id(self) -> str:
        return self.id.split("/", 1)[0]

    def walk(self) -> Iterator["TaxonomyNode"]:
        """This node and every descendant, depth first in file order."""
        yield self
        for child in self.children:
            yield from child.walk()

    def leaves(self) -> list["TaxonomyNode"]:
        return [n for n in self.walk() if n.is_leaf]

    def ancestors(self) -> list["TaxonomyNode"]:
        """From the root down to the parent."""
        chain: list[TaxonomyNode] = []
        node = self.parent
        while node is not None:
            chain.append(node)
            node = node.parent
        return chain[::-1]

    @property
    def listed_subtasks(self) -> int:
        """Leaves listed under this node (the node itself when it is a leaf)."""
        return len(self.leaves())

    def listed_target_total(self) -> int | None:
        """What the children's targets add up to (a child without a target counts its own children)."""
        totals = []
        for child in self.children:
            value = child.target_count if child.target_count is not None else child.listed_target_total()
            if value is not None:
                totals.append(value)
        return sum(totals) if totals else None

    def discrepancies(self) -> list[str]:
        """Where the paper's own numbers for this node disagree with what it lists."""
        found = []
        if self.claimed_subtasks is not None and self.claimed_subtasks != self.listed_subtasks:
            found.append(
                f"the paper claims {self.claimed_subtasks} subtasks here but lists {self.listed_subtasks}"
            )
        if self.claimed_categories is not None and self.claimed_categories != len(self.children):
            found.append(
                f"the paper claims {self.claimed_categories} categories here but lists {len(self.children)}"
            )
        listed = self.listed_target_total()
        if self.target_count is not None and listed is not None and listed != self.target_count:
            found.append(
                f"target {self.target_count:,} but the listed children's targets sum to {listed:,}"
            )
        return found


_WORD_SPLIT = re.compile(r"[\s_\-/]+")


def _norm(text: str) -> str:
    """Lower-case with '_', '-', '/' and runs of spaces folded to one space."""
    return " ".join(_WORD_SPLIT.split(text.lower())).strip()


@dataclass
class TaxonomyForest:
    """Every loaded taxonomy; ``source`` is the folder (or file) it was read from."""

    roots: list[TaxonomyNode]
    source: Path
    files: list[Path] = field(default_factory=list)
    #: reads ``source`` into a new forest; the loader that built this forest passes itself
    load: Callable[[Path], "TaxonomyForest"] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._index()

    def _index(self) -> None:
        self._by_id = {n.id: n for root in self.roots for n in root.walk()}

    def __iter__(self) -> Iterator[TaxonomyNode]:
        for root in self.roots:
            yield from root.walk()

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._by_id

    def ids(self) -> list[str]:
        return [n.id for n in self]

    def find(self, node_id: str) -> TaxonomyNode | None:
        return self._by_id.get(node_id.strip().strip("/"))

    def get(self, node_id: str) -> TaxonomyNode:
        """The node with this id; KeyError with a readable message otherwise."""
        node = self.find(node_id)
        if node is None:
            roots = ", ".join(r.id for r in self.roots) or "none loaded"
            raise KeyError(f"no taxonomy node {node_id!r} (taxonomies: {roots})")
        return node

    def flatten(self, root_id: str | None = None) -> list[TaxonomyNode]:
        """All nodes depth first, or those of one subtree."""
        if root_id is None:
            return list(self)
        return list(self.get(root_id).walk())

    def search(self, query: str, limit: int | None = None) -> list[TaxonomyNode]:
        """Nodes whose title, id, definition, examples or vocabulary match, best matches first.

        Case-insensitive; spaces, '_', '-' and '/' are interchangeable, and every word of the query
        must occur (so "relative position" finds ``.../relative_position``). An empty query matches
        nothing.
        """
        q = _norm(query)
        if not q:
            return []
        words = q.split(" ")
        scored: list[tuple[int, int, TaxonomyNode]] = []
        for order, node in enumerate(self):
            rank = _match_rank(node, q, words)
            if rank is not None:
                scored.append((rank, order, node))
        scored.sort(key=lambda t: (t[0], t[1]))
        hits = [n for _, _, n in scored]
        return hits[:limit] if limit is not None else hits

    def replace_with(self, other: "TaxonomyForest") -> None:
        """Take over another forest's content in place (a reload keeps the same object)."""
        self.roots, self.source, self.files = other.roots, other.source, other.files
        self._index()

    def reload(self) -> "TaxonomyForest":
        """Read the files again; on error the current content stays and the error is raised."""
        if self.load is None:
            raise ValueError("this taxonomy was not read from files, so there is nothing to reload")
        self.replace_with(self.load(self.source))
        return self


def _has_phrase(q: str, text: str) -> bool:
    """The phrase occurs starting at a word boundary of the (normalised) text."""
    return re.search(r"(?:^| )" + re.escape(q), text) is not None


def _has_words(words: list[str], text: str) -> bool:
    """Every query word starts some word of the text ("pos" matches "position", "no" not "another")."""
    tokens = text.split(" ")
    return all(any(t.startswith(w) for t in tokens) for w in words)


def _match_rank(node: TaxonomyNode, q: str, words: list[str]) -> int | None:
    """0 = exact title or id, up to 6 = only a vocabulary entry matches; None = no match."""
    title = _norm(node.title)
    ident = _norm(node.id)
    if q == title or q == ident or q == _norm(node.key):
        return 0
    if _has_phrase(q, title):
        return 1
    if _has_words(words, title):
        return 2
    if _has_phrase(q, ident) or _has_words(words, ident):
        return 3
    definition = _norm(node.definition)
    if _has_phrase(q, definition):
        return 4
    extras = " ".join([title, ident, definition, *map(_norm, node.examples), _norm(node.kind or "")])
    if _has_words(words, extras):
        return 5
    if any(_has_phrase(q, _norm(v)) for v in node.vocabulary):
        return 6
    return None
