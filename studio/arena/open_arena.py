"""Open arenas: an admin names backends and a prompt source; the arena makes its own comparisons.

Why an open arena is a comparison batch: votes, blindness (the images an annotator receives carry no
model names), undo, the boards, ``python -m studio leaderboard --batch NAME`` and the exports all
work on batches and their vote facts already. An open arena is therefore a batch (config
``{"kind": "open-arena"}``) whose items are not fixed up front: :mod:`studio.arena.open_fill` adds them
a few at a time, choosing each pair with the active matchmaking policy from the votes so far, and
generating outputs only when a pair needs them (cached per prompt, backend and seed). Annotators vote
in it from the Annotate tab's batch list like in any batch, with the same keys and criteria.

Entry points (each checks everything before it changes anything):

- :func:`open_arena` — check a :class:`ArenaSpec`, resolve its prompts, create the batch and the
  arena's settings row.
- :func:`set_open` — close an arena (annotators get nothing new from it) or open it again.
- :func:`arena_status` / :func:`list_arenas` — what the arena holds: items ready, votes, outputs,
  the latest generation problem.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from sqlalchemy import delete, exists, func, select

from studio.annotation import AnnotationError
from studio.annotation import generation
from studio.annotation.generation import MAX_SIDE, MIN_SIDE, prompts_from_file, prompts_from_samples, prompts_from_text
from studio.annotation.models import Assignment, ComparisonBatch, ComparisonItem, PairwiseVote
from studio.annotation.service import create_batch, live_votes, resolve_batch, update_batch
from studio.arena.matchmaking import POLICIES
from studio.arena.open_models import MAX_TRIES, ArenaOutput, OpenArena

KIND = "open-arena"
TASKS = ("text-to-image", "edit")
SOURCES = ("nodes", "dataset", "text", "file")
MAX_PROMPTS = 5000
LIMITS = {  # setting: (lowest, highest) — a value outside is refused before anything starts
    "seeds": (1, 16),
    "buffer": (1, 100),
    "time_limit_s": (10, 3600),
    "count": (1, MAX_PROMPTS),
}
#: the criteria an arena asks unless the admin names others (issue 19: ShareGPT-4o-Image's human
#: evaluation for text-to-image; instruction following, preservation and quality for edits)
DEFAULT_CRITERIA = {
    "text-to-image": ("instruction_fidelity", "visual_clarity"),
    "edit": ("instruction_following", "preservation", "quality"),
}


class ArenaError(AnnotationError):
    """An arena setting or source cannot be used; the message says what to change."""


@dataclass
class ArenaSpec:
    """What an admin asks for. ``source`` picks which of nodes/dataset/text/path supplies the prompts."""

    name: str
    backends: Sequence[str]
    source: str
    nodes: Sequence[str] = ()
    count: int = 50  # prompts drawn from the nodes
    dataset: str = ""
    text: str = ""
    path: str = ""
    task: str = "text-to-image"
    seeds: int = 1
    seed: int = 0
    width: int | None = None
    height: int | None = None
    policy: str = "active"
    buffer: int = 4
    overlap: int = 1
    criteria: Sequence[str] | str | None = None  # None: DEFAULT_CRITERIA of the task
    guidelines: str = ""
    time_limit_s: int = 300


def _whole(name: str, value: Any) -> int:
    lo, hi = LIMITS[name]
    label = name.replace("_", " ")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ArenaError(f"{label} must be a whole number between {lo} and {hi}, got {value!r}") from None
    if number != float(value) or not lo <= number <= hi:
        raise ArenaError(f"{label} must be a whole number between {lo} and {hi}, got {value!r}")
    return number


def check_backends(studio, backends: Sequence[str], task: str) -> list[str]:
    """The distinct backend names, each known and able to do ``task``; at least two."""
    if task not in TASKS:
        raise ArenaError(f"an arena's task is {' or '.join(TASKS)}, not {task!r}")
    try:
        return generation.check_backends(studio.backends, backends, task)
    except AnnotationError as exc:
        raise ArenaError(str(exc)) from None


def resolve_prompts(studio, spec: ArenaSpec) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(prompts, a description of their source) from the spec's source; never empty."""
    if spec.source not in SOURCES:
        raise ArenaError(f"the prompt source is one of {', '.join(SOURCES)}, not {spec.source!r}")
    if spec.source == "nodes":
        prompts = _node_prompts(studio, list(spec.nodes or ()), _whole("count", spec.count), int(spec.seed), spec.task)
        about = {"kind": "nodes", "nodes": list(spec.nodes), "count": len(prompts)}
    elif spec.source == "dataset":
        if not (spec.dataset or "").strip():
            raise ArenaError("name the dataset whose prompts the arena uses")
        prompts = prompts_from_samples(studio, dataset=spec.dataset.strip())
        about = {"kind": "dataset", "dataset": spec.dataset.strip()}
    elif spec.source == "text":
        prompts = prompts_from_text(spec.text)
        about = {"kind": "text"}
    else:
        if not (spec.path or "").strip():
            raise ArenaError("choose a prompt file (.txt, .jsonl, .json or .csv)")
        prompts = prompts_from_file(spec.path)
        about = {"kind": "file", "file": spec.path.rsplit("/", 1)[-1]}
    if not prompts:
        raise ArenaError("the prompt source is empty: give at least one prompt")
    if len(prompts) > MAX_PROMPTS:
        raise ArenaError(f"an arena takes at most {MAX_PROMPTS} prompts (the source has {len(prompts)})")
    clean = []
    for n, p in enumerate(prompts, 1):
        source_image = p.get("source_image") if spec.task == "edit" else None
        if spec.task == "edit" and not source_image:
            raise ArenaError(f"prompt {n} has no source image: an edit arena takes its prompts from a dataset "
                             "whose samples have one")
        clean.append({"prompt": str(p["prompt"]), "source_image": source_image, "taxonomy_id": p.get("taxonomy_id")})
    about["prompts"] = len(clean)
    return clean, about


def _node_prompts(studio, nodes: list[str], count: int, seed: int, task: str) -> list[dict[str, Any]]:
    """Text-to-image prompts for taxonomy nodes, drawn by the synthesis planner's templates."""
    from studio.synthesis.dedup import DedupSettings
    from studio.synthesis.planner import Planner, SynthesisRequest
    from studio.synthesis.templates import SynthesisError

    if task != "text-to-image":
        raise ArenaError("taxonomy nodes give text-to-image prompts; an edit arena takes its prompts and "
                         "source images from a dataset")
    if not nodes:
        raise ArenaError("pick at least one taxonomy node")
    try:
        # near duplicates by minhash: the embedding method may load a model, too slow for a click
        request = SynthesisRequest(nodes=nodes, count=count, seed=seed, method="template",
                                   dedup=DedupSettings(near="minhash"))
        plan = Planner(studio.taxonomy).plan(request)
    except SynthesisError as exc:
        raise ArenaError(str(exc)) from None
    edits = sorted({r.taxonomy_id for r in plan.rows if r.kind != "generation"})
    if edits:
        raise ArenaError(f"{', '.join(edits[:3])} are editing nodes; pick generation nodes for a text-to-image arena")
    return [{"prompt": r.text, "taxonomy_id": r.taxonomy_id} for r in plan.rows if r.text.strip()]


def open_arena(studio, spec: ArenaSpec, *, by: str = "") -> str:
    """Open an arena; returns its batch id. Nothing is generated here (see :mod:`studio.arena.open_fill`).

    1. Check the settings (name free, two or more capable backends, policy, ranges).
    2. Resolve the prompts from the source (nodes, a dataset, pasted text or a file); refuse an empty one.
    3. Create the batch (kind open-arena, the criteria asked) and the arena's settings row; should the
       second step fail, the batch goes too.
    """
    name = (spec.name or "").strip()
    if not name:
        raise ArenaError("an arena needs a name")
    try:
        resolve_batch(studio, name)
    except AnnotationError:
        pass
    else:
        raise ArenaError(f"a batch or arena named {name!r} already exists; pick another name")
    backends = check_backends(studio, spec.backends, spec.task)
    if spec.policy not in POLICIES:
        raise ArenaError(f"the matchmaking policy is one of {', '.join(POLICIES)}, not {spec.policy!r}")
    seeds, buffer = _whole("seeds", spec.seeds), _whole("buffer", spec.buffer)
    time_limit = _whole("time_limit_s", spec.time_limit_s)
    width, height = _size(studio, backends, spec.width, spec.height)
    prompts, about = resolve_prompts(studio, spec)
    criteria = spec.criteria if spec.criteria not in (None, "", ()) else DEFAULT_CRITERIA[spec.task]
    batch_id = create_batch(studio, name, overlap=spec.overlap, criteria=criteria, guidelines=spec.guidelines,
                            config={"kind": KIND})
    try:
        with studio.db.session() as s:
            s.add(OpenArena(batch_id=batch_id, created_by=by or "", task=spec.task, backends=backends,
                            prompts=prompts, source=about, seeds=seeds, seed=int(spec.seed), width=width,
                            height=height, policy=spec.policy, buffer=buffer, time_limit_s=time_limit))
    except Exception:
        with studio.db.session() as s:
            s.delete(s.get(ComparisonBatch, batch_id))
        raise
    return batch_id


def _size(studio, backends: list[str], width, height) -> tuple[int, int]:
    """The size both sides are drawn at: as given, else the smallest the backends declare."""
    if not width or not height:
        from backends.defaults import common_size

        own_w, own_h = common_size([studio.backends.defaults(b) for b in backends])
        width, height = width or own_w, height or own_h
    try:
        w, h = int(width), int(height)
    except (TypeError, ValueError):
        raise ArenaError("width and height are whole numbers of pixels") from None
    if not (MIN_SIDE <= w <= MAX_SIDE and MIN_SIDE <= h <= MAX_SIDE):
        raise ArenaError(f"width and height must be between {MIN_SIDE} and {MAX_SIDE} pixels")
    return w, h


def resolve_arena(studio, arena: str) -> str:
    """The batch id of an open arena named or identified by ``arena``."""
    batch_id = resolve_batch(studio, arena)
    with studio.db.session() as s:
        if s.get(OpenArena, batch_id) is None:
            raise ArenaError(f"{arena!r} is a fixed comparison batch, not an open arena")
    return batch_id


def set_open(studio, arena: str, is_open: bool) -> None:
    """Close an arena (annotators finish what they hold, nothing new is made) or open it again.

    Opening it again forgets its failed outputs, so every combination they held back is tried anew
    (the admin may have mended the backend meanwhile)."""
    batch_id = resolve_arena(studio, arena)
    update_batch(studio, batch_id, status="open" if is_open else "closed")
    if is_open:
        with studio.db.session() as s:
            s.execute(delete(ArenaOutput).where(ArenaOutput.arena_id == batch_id, ArenaOutput.status == "failed"))


def open_arena_ids(studio) -> list[str]:
    """Ids of the arenas that are open for annotation (the ones whose items are kept ready)."""
    with studio.db.session() as s:
        return list(s.scalars(select(OpenArena.batch_id).join(ComparisonBatch, ComparisonBatch.id == OpenArena.batch_id)
                              .where(ComparisonBatch.status == "open").order_by(OpenArena.created_at)))


@dataclass
class ArenaStatus:
    """An arena as its admin sees it (model names included)."""

    id: str
    name: str
    status: str
    task: str
    backends: list[str]
    policy: str
    criteria: list[str]
    prompts: int
    seeds: int
    buffer: int
    source: dict[str, Any]
    items: int = 0
    ready: int = 0
    votes: int = 0
    outputs: dict[str, int] = field(default_factory=dict)
    problem: str = ""

    @property
    def combinations(self) -> int:
        """Items the arena can make: every prompt and seed for every pair of backends."""
        return combinations(len(self.backends), self.prompts, self.seeds)

    def text(self) -> str:
        made = self.outputs.get("done", 0)
        line = (f"{self.name} ({self.status}): {len(self.backends)} backends, {self.prompts} prompts × {self.seeds} "
                f"seed(s), {self.policy} matchmaking · {self.items} comparisons made of {self.combinations} "
                f"possible, {self.ready} ready for annotators · {_count(self.votes, 'vote')} · {_count(made, 'image')} generated")
        if self.outputs.get("generating"):
            line += f", {self.outputs['generating']} generating"
        if self.outputs.get("failed"):
            line += f", {self.outputs['failed']} failed (each tried up to {MAX_TRIES} times; opening the arena again retries them at once)"
        if self.problem:
            line += f" · latest problem: {self.problem}"
        return line

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "status": self.status, "task": self.task,
                "backends": self.backends, "policy": self.policy, "criteria": self.criteria,
                "prompts": self.prompts, "seeds": self.seeds, "buffer": self.buffer, "source": self.source,
                "items": self.items, "ready": self.ready, "votes": self.votes, "outputs": self.outputs,
                "combinations": self.combinations, "problem": self.problem}


def fresh_items(batch_id: str):
    """The condition "an item of the batch that nobody has been shown yet" (the ready buffer)."""
    return (ComparisonItem.batch_id == batch_id) & ~exists().where(Assignment.item_id == ComparisonItem.id)


def arena_status(studio, arena: str) -> ArenaStatus:
    """Settings and counts of one arena, derived from its rows."""
    batch_id = resolve_arena(studio, arena)
    with studio.db.session() as s:
        a, b = s.get(OpenArena, batch_id), s.get(ComparisonBatch, batch_id)
        items = s.scalar(select(func.count()).where(ComparisonItem.batch_id == batch_id)) or 0
        ready = s.scalar(select(func.count()).select_from(ComparisonItem).where(fresh_items(batch_id))) or 0
        votes = s.scalar(select(func.count()).where(PairwiseVote.batch_id == batch_id, PairwiseVote.winner != "skip",
                                                    live_votes())) or 0
        outputs = dict(s.execute(select(ArenaOutput.status, func.count()).where(ArenaOutput.arena_id == batch_id)
                                 .group_by(ArenaOutput.status)).all())
        problem = s.scalar(select(ArenaOutput.error).where(ArenaOutput.arena_id == batch_id, ArenaOutput.status == "failed")
                           .order_by(ArenaOutput.started_at.desc()).limit(1)) or ""
        return ArenaStatus(id=batch_id, name=b.name, status=b.status, task=a.task, backends=list(a.backends),
                           policy=a.policy, criteria=list(b.criteria or []), prompts=len(a.prompts), seeds=a.seeds,
                           buffer=a.buffer, source=dict(a.source or {}), items=items, ready=ready, votes=votes,
                           outputs=outputs, problem=problem)


def still_filling(studio, batch_id: str) -> bool:
    """True while ``batch_id`` is an open arena with comparisons still to make: an annotator who found
    nothing to vote on should come back shortly rather than be told the batch is done."""
    with studio.db.session() as s:
        a, b = s.get(OpenArena, batch_id), s.get(ComparisonBatch, batch_id)
        if a is None or b is None or b.status != "open":
            return False
        items = s.scalar(select(func.count()).where(ComparisonItem.batch_id == batch_id)) or 0
    return items < combinations(len(a.backends), len(a.prompts), a.seeds)


def combinations(backends: int, prompts: int, seeds: int) -> int:
    """Comparisons an arena can make: every prompt and seed for every pair of backends."""
    return prompts * seeds * backends * (backends - 1) // 2


def list_arenas(studio) -> list[ArenaStatus]:
    """Every arena, newest first."""
    with studio.db.session() as s:
        ids = list(s.scalars(select(OpenArena.batch_id).order_by(OpenArena.created_at.desc())))
    return [arena_status(studio, i) for i in ids]


def _count(n: int, noun: str) -> str:
    """``1 vote``, ``2 votes``: the status line is read by people."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
