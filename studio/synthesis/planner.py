"""Plan a synthesis request into rows: the preview, and the item list of a batch.

Row ``i`` is built from its own random generator seeded with ``"<seed>:<i>"``, so the same request
and seed always give the same rows, whichever process builds them. Nodes are served round-robin in
the order given (non-leaf nodes expand to their synthesizable leaves); each row's difficulty is drawn
from the difficulty mix. Duplicates are dropped (with the reason) and replaced by further candidates.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Generator, Sequence

from studio.synthesis import metaprompts
from studio.synthesis.attributes import AttributeSynthesizer
from studio.synthesis.dedup import DedupReport, DedupSettings, deduplicate, seed_existing
from studio.synthesis.ksampler import DEFAULT_LAMBDA, check_lambda
from studio.synthesis.resources import Resources, resources
from studio.synthesis.rows import DIFFICULTY_LABELS, METHODS, PlannedRow
from studio.synthesis.templates import SynthesisError, TemplateSynthesizer

MAX_COUNT = 100_000
#: candidate rows built between two yields of :meth:`Planner.plan_steps`: the points where a caller
#: (the preview handler) can stop, so a Stop or a closed page ends the work within one chunk
CHUNK = 200
_LEVELS = {"easy": 1, "medium": 2, "hard": 3}

#: The difficulty mixes the Synthesis tab offers: (value, label). Only "default" keeps the papers'
#: own sampling for the attributes method (k ~ exp(-λ(k-1)) untouched); every other mix is the
#: studio's, and for attributes it cuts k into the difficulty bands, so the labels say so.
DIFFICULTY_MIXES: list[tuple[str, str]] = [
    ("default", "method default: attributes as in the paper (k ~ exp(-λ(k-1)), no bands); "
                "template: balanced thirds (studio default)"),
    ("balanced", "balanced thirds (studio; for attributes it reshapes k into bands)"),
    ("easy", "easy only (studio)"),
    ("medium", "medium only (studio)"),
    ("hard", "hard only (studio)"),
    ("1:2:1", "1:2:1 easy:medium:hard (studio)"),
]
DEFAULT_DIFFICULTY_MIX = "default"


@dataclass
class SynthesisRequest:
    """What the user asks for; ``difficulty_mix`` None means balanced for templates, natural k for attributes."""

    nodes: list[str]
    count: int = 10
    seed: int = 0
    method: str = "template"
    difficulty_mix: dict[int, float] | None = None
    lam: float = DEFAULT_LAMBDA
    style_injection: float = 0.25
    #: LLM method: caption generated images instead of composing (ShareGPT-4o-Image image-first)
    image_first: bool = False
    dedup: DedupSettings = field(default_factory=DedupSettings)

    def to_config(self) -> dict[str, Any]:
        return {
            "nodes": list(self.nodes), "count": self.count, "seed": self.seed, "method": self.method,
            "difficulty_mix": {str(k): v for k, v in (self.difficulty_mix or {}).items()} or None,
            "lam": self.lam, "style_injection": self.style_injection, "image_first": self.image_first,
            "dedup": self.dedup.to_dict(),
        }

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> "SynthesisRequest":
        mix = cfg.get("difficulty_mix")
        return cls(
            nodes=list(cfg["nodes"]), count=int(cfg["count"]), seed=int(cfg["seed"]), method=cfg["method"],
            difficulty_mix={int(k): float(v) for k, v in mix.items()} if mix else None,
            lam=float(cfg.get("lam", DEFAULT_LAMBDA)), style_injection=float(cfg.get("style_injection", 0.25)),
            image_first=bool(cfg.get("image_first", False)),
            dedup=DedupSettings.from_dict(cfg.get("dedup") or {}),
        )


@dataclass
class Plan:
    rows: list[PlannedRow]
    dedup: DedupReport
    notices: list[str] = field(default_factory=list)


def parse_difficulty_mix(text: str | None) -> dict[int, float] | None:
    """'default' / 'balanced' / 'easy' / 'hard only' / '1:2:1' / 'easy=1,hard=2' -> weights per level.

    ``None`` (from 'default', 'natural' or nothing) means the method's own sampling: the paper's k
    distribution for attributes, a uniform draw of the three levels for templates.
    """
    if text is None:
        return None
    t = str(text).strip().lower()
    if t in ("", "default", "natural", "any", "paper") or t.startswith("method default"):
        return None
    if t.startswith("balanced"):
        return {1: 1.0, 2: 1.0, 3: 1.0}
    for name, level in _LEVELS.items():
        if t in (name, f"{name} only"):
            return {level: 1.0}
    try:
        if "=" in t:
            mix = {}
            for part in t.split(","):
                k, _, v = part.partition("=")
                mix[_LEVELS[k.strip()]] = float(v)
        else:
            parts = [float(p) for p in t.replace(",", ":").split(":")]
            if len(parts) != 3:
                raise ValueError
            mix = {i + 1: p for i, p in enumerate(parts)}
    except (KeyError, ValueError):
        raise SynthesisError(
            f"difficulty mix {text!r} not understood: use default, balanced, easy|medium|hard, "
            "'1:2:1' (easy:medium:hard weights) or 'easy=1,hard=2'"
        ) from None
    if any(v < 0 for v in mix.values()) or sum(mix.values()) <= 0:
        raise SynthesisError("difficulty mix weights must be ≥ 0 and not all zero")
    return {k: v for k, v in mix.items() if v > 0}


class Planner:
    """Resolves nodes against the taxonomy and builds rows."""

    def __init__(self, taxonomy, res: Resources | None = None) -> None:
        self.taxonomy = taxonomy
        self.res = res or resources()

    # -- nodes -----------------------------------------------------------------------------
    def attribute_root(self, node_id: str) -> str | None:
        for root in self.res.attribute_roots:
            if node_id == root or node_id.startswith(root + "/"):
                return root
        return None

    def synthesizable(self, node_id: str) -> bool:
        return node_id in self.res.node_specs or self.attribute_root(node_id) is not None

    def synthesizable_ids(self) -> list[str]:
        """Every taxonomy node (leaves and their parents) synthesis can serve, in taxonomy order."""
        out = []
        for node in self.taxonomy:
            if node.is_leaf and self.synthesizable(node.id):
                out.append(node.id)
            elif not node.is_leaf and any(self.synthesizable(n.id) for n in node.leaves()):
                out.append(node.id)
        return out

    def resolve(self, nodes: Sequence[str]) -> list[str]:
        """Leaf ids to synthesize; unknown or unsupported ids raise with the reason."""
        if not nodes:
            raise SynthesisError("pick at least one taxonomy node")
        leaves: list[str] = []
        for raw in nodes:
            nid = str(raw).strip().strip("/")
            node = self.taxonomy.find(nid)
            if node is None:
                hits = [n.id for n in self.taxonomy.search(nid.split("/")[-1], limit=3)]
                hint = f"; did you mean {', '.join(hits)}?" if hits else ""
                raise SynthesisError(f"unknown taxonomy node {nid!r}{hint}")
            for leaf in node.leaves():
                if self.synthesizable(leaf.id):
                    if leaf.id not in leaves:
                        leaves.append(leaf.id)
                elif node.is_leaf:
                    if any(leaf.id.startswith(r) for r in self.res.reasoning_roots):
                        raise SynthesisError(
                            f"{leaf.id} is a reasoning-with-images subset: make it in the Reason tab")
                    raise SynthesisError(f"{leaf.id} has no synthesis templates (add it to assets/synthesis/node_map.yaml)")
        if not leaves:
            raise SynthesisError(f"none of {', '.join(nodes)} has synthesizable subtasks")
        return leaves

    # -- rows ------------------------------------------------------------------------------
    def check(self, req: SynthesisRequest) -> None:
        if req.method not in METHODS:
            raise SynthesisError(f"unknown method {req.method!r}; use {', '.join(METHODS)}")
        if not isinstance(req.count, int) or req.count < 1:
            raise SynthesisError(f"count must be at least 1 (got {req.count})")
        if req.count > MAX_COUNT:
            raise SynthesisError(f"count {req.count:,} is over the limit of {MAX_COUNT:,} per batch; split it")
        try:
            check_lambda(req.lam)
        except ValueError as exc:
            raise SynthesisError(str(exc)) from None
        if not 0 <= req.style_injection <= 1:
            raise SynthesisError("stylistic injection rate must be between 0 and 1")
        req.dedup.check()

    def candidate(self, req: SynthesisRequest, leaves: list[str], i: int) -> PlannedRow:
        """Candidate row ``i`` (deterministic in the request and ``i``)."""
        rng = random.Random(f"{req.seed}:{i}")
        node_id = leaves[i % len(leaves)]
        mix = req.difficulty_mix
        root = self.attribute_root(node_id)
        if mix:
            levels = sorted(mix)
            level: int | None = rng.choices(levels, weights=[mix[lv] for lv in levels])[0]
        elif root is None:
            level = rng.choice((1, 2, 3))
        else:
            level = None
        row_seed = rng.randrange(2**31)
        if root is not None:
            row = AttributeSynthesizer(self.res, req.lam).row(
                index=i, node_id=node_id, root=root, level=level, seed=row_seed, rng=rng)
        else:
            if req.method == "attributes":
                raise SynthesisError(
                    f"{node_id}: the attributes method samples ShareGPT-4o-Image's six dimensions; pick "
                    "nodes under sharegpt4o/t2i for it, or use the template or llm method")
            row = TemplateSynthesizer(self.res, req.style_injection).row(
                index=i, node_id=node_id, spec_key=self.res.node_specs[node_id], difficulty=level,
                seed=row_seed, rng=rng)
        if req.method == "llm":
            self._attach_meta_prompt(row, req)
        return row

    def _attach_meta_prompt(self, row: PlannedRow, req: SynthesisRequest) -> None:
        node = self.taxonomy.find(row.taxonomy_id)
        title = node.title if node else row.taxonomy_id
        definition = node.definition if node else ""
        row.draft = row.preview_text()
        row.method = "llm"
        if row.kind == "generation" and row.taxonomy_id.startswith("sharegpt4o/document/"):
            a = row.attributes
            category = (node.title if node else "Document")
            if not a.get("font"):  # C.2 always hands the LLM a selected font; draw one when no modifier did
                fonts = self.res.pool("documents.fonts")
                a["font"] = fonts[random.Random(f"{row.seed}:font").randrange(len(fonts))]
            row.meta_prompt_kind = "document"
            step1 = metaprompts.document_content(category, a.get("theme", ""), a.get("specific", ""))
            step2 = metaprompts.document_visual_prompt(a.get("theme", ""), a["font"], category=category,
                                                       specific=a.get("specific", ""))
            row.meta_prompt = [{**m, "step": "1: content"} for m in step1] + [{**m, "step": "2: visual prompt"} for m in step2]
        elif row.kind == "generation" and req.image_first:
            row.meta_prompt_kind = "image-first"
            row.meta_prompt = metaprompts.image_first_caption()
        elif row.kind == "generation":
            row.meta_prompt_kind = "compose"
            row.meta_prompt = metaprompts.compose_prompt(title, definition, row.attributes, row.draft)
        else:
            row.meta_prompt_kind = "edit-instruction"
            examples = self.examples(row.taxonomy_id)
            row.meta_prompt = metaprompts.edit_instruction(
                title, definition, examples, row.source_prompt or "", rounds=max(1, len(row.turns)))
        row.text = ""  # the LLM writes it at run time

    def examples(self, node_id: str, n: int = 3) -> list[str]:
        """In-context examples for an edit type: fixed template rows of that node."""
        ts = TemplateSynthesizer(self.res, 0.0)
        out = []
        for j in range(n):
            r = ts.row(index=j, node_id=node_id, spec_key=self.res.node_specs[node_id],
                       difficulty=1 + j % 3, seed=j, rng=random.Random(f"example:{node_id}:{j}"))
            out.append(r.preview_text())
        return out

    def plan(self, req: SynthesisRequest, existing: Sequence[tuple[str, str]] = ()) -> Plan:
        """``req.count`` rows after dedup (fewer, with a notice, when the pools run out of variety).

        ``existing`` (label, prompt) pairs, e.g. the target dataset's prompts, count as already
        taken: rows repeating one are dropped with the label as the reason.
        """
        return _drain(self.plan_steps(req, existing))

    def plan_steps(self, req: SynthesisRequest,
                   existing: Sequence[tuple[str, str]] = ()) -> Generator[int, None, Plan]:
        """The same rows as :meth:`plan`, built in chunks of :data:`CHUNK` candidates.

        1. Check the request and resolve its nodes (errors raise before any work).
        2. Build and deduplicate one chunk of candidates, then yield the number of rows kept so far;
           a caller that stops iterating stops the work there.
        3. Return the :class:`Plan` (as the generator's return value) once ``req.count`` rows are kept
           or the candidates run out.
        Rows do not depend on the chunking: each is seeded by its index, and dedup carries its state.
        """
        self.check(req)
        leaves = self.resolve(req.nodes)
        rows: list[PlannedRow] = []
        report = DedupReport()
        notices: list[str] = []
        i = 0
        limit = req.count * 3 + 50
        state = seed_existing(existing, req.dedup, report, req.count)
        while len(rows) < req.count and i < limit:
            want = min(req.count - len(rows), CHUNK)
            batch = [self.candidate(req, leaves, j) for j in range(i, min(i + max(want, 1), limit))]
            i += len(batch)
            kept, state = deduplicate(batch, req.dedup, report, state)
            rows.extend(kept)
            yield len(rows)
        if len(rows) < req.count:
            notices.append(
                f"only {len(rows)} distinct rows out of {req.count} asked: the pools of "
                f"{', '.join(leaves[:3])}{'…' if len(leaves) > 3 else ''} ran out of variety after "
                f"{len(report.dropped)} duplicates; add words to assets/synthesis/pools.yaml or lower the count")
        return Plan(rows=rows, dedup=report, notices=notices)


def _drain(steps: Generator[int, None, Plan]) -> Plan:
    """Run a :meth:`Planner.plan_steps` generator to the end and return its plan."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def describe_row(row: PlannedRow) -> dict[str, Any]:
    """The preview's columns for one row."""
    return {
        "#": row.index,
        "text": row.preview_text() or f"(LLM will write it) draft: {row.draft}",
        "node": row.taxonomy_id,
        "difficulty": DIFFICULTY_LABELS.get(row.difficulty, row.difficulty),
        "why": row.difficulty_reason,
        "template": row.template,
        "attributes": row.attributes,
        "source image": row.source_prompt or "",
    }
