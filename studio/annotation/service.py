"""Comparison batches and their items: the API other tabs call to "send to annotation".

Every function takes the :class:`studio.core.Studio` object first. Images are referenced by the
SHA-256 they have in the studio's ImageStore (``studio.samples.store_image(img)`` returns it)::

    from studio.annotation import service

    batch_id = service.create_batch(studio, "edit-chat picks", overlap=3,
                                    criteria=("overall", "instruction_fidelity", "visual_quality"),
                                    guidelines="Prefer the output that follows the instruction.")
    item_id = service.add_comparison(studio, "edit-chat picks",        # batch id or name
                                     prompt="make the sky purple", task="edit",
                                     source_image=src_sha, output_a=sha1, model_a="procedural",
                                     output_b=sha2, model_b="sd15-lora", taxonomy_id="...",
                                     provenance={"tab": "edit-chat", "session": "..."})

- ``create_batch(studio, name, *, overlap=1, criteria=("overall",), guidelines="", config=None) -> id``
  raises :class:`AnnotationError` when the name is taken or a setting is invalid.
- ``ensure_batch(...)`` is the same but returns the existing batch of that name.
- ``add_comparison(studio, batch, *, prompt, task, output_a, model_a, output_b, model_b,
  source_image=None, taxonomy_id=None, provenance=None, item_key=None) -> item id``; ``task`` is
  ``"text-to-image"`` or ``"edit"`` (edits need ``source_image``); with ``item_key`` a second call
  with the same key returns the first item instead of adding a duplicate.
- ``list_batches``, ``get_batch``, ``update_batch``, ``batch_items``, ``resolve_batch``.

Model names are stored with the item and never reach an annotator before their vote.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from sqlalchemy import exists, func, or_, select
from sqlalchemy.exc import IntegrityError

from studio.annotation import AnnotationError
from studio.annotation.models import ComparisonBatch, ComparisonItem, PairwiseVote, Retraction
from studio.db.models import StoredImage
from studio.images import StoredFile


def live_votes():
    """The condition "this vote has not been withdrawn" (an undo records a retraction naming it)."""
    return ~exists().where(Retraction.vote_id == PairwiseVote.id)

TASKS = ("text-to-image", "edit")
KNOWN_CRITERIA = {
    "overall": "Overall preference",
    "instruction_fidelity": "Instruction fidelity",
    "visual_quality": "Visual quality",
    # text-to-image (ShareGPT-4o-Image's human evaluation): instruction fidelity and visual clarity
    "visual_clarity": "Visual clarity",
    # edits: instruction following, preservation of what should not change, quality
    "instruction_following": "Instruction following",
    "preservation": "Preserves what should not change",
    "quality": "Quality",
}
MAX_CRITERIA = 4
_CRITERION_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass
class BatchInfo:
    """A batch with its settings and counts (what list/get return)."""

    id: str
    name: str
    overlap: int
    criteria: list[str]
    guidelines: str
    status: str
    items: int = 0
    votes: int = 0
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def target_votes(self) -> int:
        return self.items * self.overlap


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise AnnotationError("a batch needs a name")
    if len(name) > 128:
        raise AnnotationError("batch names are at most 128 characters")
    return name


def _clean_criteria(criteria: Iterable[str]) -> list[str]:
    if isinstance(criteria, str):
        criteria = [c for c in re.split(r"[,\n]+", criteria) if c]
    out: list[str] = []
    for c in criteria:
        c = str(c).strip().lower().replace(" ", "_").replace("-", "_")
        if not c:
            continue
        if not _CRITERION_RE.match(c):
            raise AnnotationError(f"criterion {c!r}: use lowercase letters, digits and _ (e.g. visual_quality)")
        if c not in out:
            out.append(c)
    if not out:
        raise AnnotationError("a batch needs at least one criterion (e.g. overall)")
    if len(out) > MAX_CRITERIA:
        raise AnnotationError(f"at most {MAX_CRITERIA} criteria per batch")
    return out


def _check_overlap(overlap: Any) -> int:
    try:
        value = int(overlap)
    except (TypeError, ValueError):
        raise AnnotationError(f"overlap must be a whole number, got {overlap!r}") from None
    if not 1 <= value <= 1000:
        raise AnnotationError("overlap (annotators per item) must be between 1 and 1000")
    return value


def _info(batch: ComparisonBatch, items: int = 0, votes: int = 0) -> BatchInfo:
    return BatchInfo(
        id=batch.id, name=batch.name, overlap=batch.overlap, criteria=list(batch.criteria or []),
        guidelines=batch.guidelines or "", status=batch.status, items=items, votes=votes,
        config=dict(batch.config or {}),
    )


def create_batch(
    studio,
    name: str,
    *,
    overlap: int = 1,
    criteria: Sequence[str] | str = ("overall",),
    guidelines: str = "",
    config: dict[str, Any] | None = None,
) -> str:
    """Create an empty comparison batch; returns its id. The name must be new."""
    name = _clean_name(name)
    batch = ComparisonBatch(
        name=name, overlap=_check_overlap(overlap), criteria=_clean_criteria(criteria),
        guidelines=str(guidelines or ""), status="open", config=dict(config or {}),
    )
    try:
        with studio.db.session() as s:
            if s.scalar(select(ComparisonBatch.id).where(ComparisonBatch.name == name)):
                raise AnnotationError(f"a batch named {name!r} already exists")
            s.add(batch)
    except IntegrityError:
        raise AnnotationError(f"a batch named {name!r} already exists") from None
    return batch.id


def ensure_batch(studio, name: str, **settings: Any) -> str:
    """The id of the batch called ``name``, creating it with ``settings`` when it does not exist."""
    try:
        return resolve_batch(studio, name)
    except AnnotationError:
        pass
    try:
        return create_batch(studio, name, **settings)
    except AnnotationError:
        return resolve_batch(studio, name)  # created concurrently by someone else


def resolve_batch(studio, batch: str) -> str:
    """Batch id for an id or a name; AnnotationError when neither exists."""
    key = (batch or "").strip()
    with studio.db.session() as s:
        rows = s.execute(select(ComparisonBatch.id, ComparisonBatch.name)
                         .where(or_(ComparisonBatch.id == key, ComparisonBatch.name == key))).all()
    found = next((r.id for r in rows if r.id == key), None) or next((r.id for r in rows), None)
    if found is None:
        raise AnnotationError(f"no comparison batch {batch!r}")
    return found


def get_batch(studio, batch: str) -> BatchInfo:
    """Settings and counts of one batch (by id or name)."""
    batch_id = resolve_batch(studio, batch)
    with studio.db.session() as s:
        b = s.get(ComparisonBatch, batch_id)
        items = s.scalar(select(func.count()).where(ComparisonItem.batch_id == batch_id)) or 0
        votes = s.scalar(
            select(func.count()).where(PairwiseVote.batch_id == batch_id, PairwiseVote.winner != "skip", live_votes())
        ) or 0
        return _info(b, items, votes)


def list_batches(studio) -> list[BatchInfo]:
    """Every batch, newest first, with item and vote counts (skips and withdrawn votes left out)."""
    with studio.db.session() as s:
        items = dict(s.execute(select(ComparisonItem.batch_id, func.count()).group_by(ComparisonItem.batch_id)).all())
        votes = dict(
            s.execute(
                select(PairwiseVote.batch_id, func.count())
                .where(PairwiseVote.winner != "skip", live_votes())
                .group_by(PairwiseVote.batch_id)
            ).all()
        )
        batches = s.scalars(select(ComparisonBatch).order_by(ComparisonBatch.created_at.desc())).all()
        return [_info(b, items.get(b.id, 0), votes.get(b.id, 0)) for b in batches]


def update_batch(
    studio,
    batch: str,
    *,
    overlap: int | None = None,
    criteria: Sequence[str] | str | None = None,
    guidelines: str | None = None,
    status: str | None = None,
) -> BatchInfo:
    """Change a batch's settings; criteria cannot change once votes exist."""
    batch_id = resolve_batch(studio, batch)
    with studio.db.session() as s:
        b = s.get(ComparisonBatch, batch_id)
        if overlap is not None:
            b.overlap = _check_overlap(overlap)
        if criteria is not None:
            new = _clean_criteria(criteria)
            if new != list(b.criteria):
                voted = s.scalar(select(func.count()).where(PairwiseVote.batch_id == batch_id)) or 0
                if voted:
                    raise AnnotationError("criteria cannot change after votes were cast; make a new batch")
                b.criteria = new
        if guidelines is not None:
            b.guidelines = str(guidelines)
        if status is not None:
            if status not in ("open", "closed"):
                raise AnnotationError("status is open or closed")
            b.status = status
    return get_batch(studio, batch_id)


def _ensure_image_row(studio, s, sha: str, what: str) -> None:
    """The image must be in the store; record it in the images table if only the file exists."""
    sha = (sha or "").strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", sha):
        raise AnnotationError(f"{what}: expected the SHA-256 of a stored image, got {sha[:20]!r}")
    if s.get(StoredImage, sha) is not None:
        return
    path = studio.images.find(sha)
    if path is None:
        raise AnnotationError(f"{what}: image {sha[:12]}… is not in the image store")
    from PIL import Image

    with Image.open(path) as probe:
        w, h, fmt = probe.size[0], probe.size[1], probe.format or path.suffix.lstrip(".").upper()
    studio.samples.record_files([StoredFile(sha, path, str(path.relative_to(studio.images.root)), w, h, fmt,
                                            path.stat().st_size)], conn=s)


def add_comparison(
    studio,
    batch: str,
    *,
    prompt: str,
    task: str,
    output_a: str,
    model_a: str,
    output_b: str,
    model_b: str,
    source_image: str | None = None,
    taxonomy_id: str | None = None,
    provenance: dict[str, Any] | None = None,
    item_key: str | None = None,
) -> str:
    """Add one comparison to a batch (by id or name); returns the item id."""
    if task not in TASKS:
        raise AnnotationError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    if task == "edit" and not source_image:
        raise AnnotationError("an edit comparison needs the source image")
    model_a, model_b = (model_a or "").strip(), (model_b or "").strip()
    if not model_a or not model_b:
        raise AnnotationError("both outputs need a model name")
    if len(model_a) > 128 or len(model_b) > 128:
        raise AnnotationError("model names are at most 128 characters")
    prompt = str(prompt or "")
    batch_id = resolve_batch(studio, batch)
    if item_key is not None:
        item_key = str(item_key)[:255]
        existing = _item_by_key(studio, batch_id, item_key)
        if existing:
            return existing
    item = ComparisonItem(
        batch_id=batch_id, item_key=item_key, task=task, prompt=prompt,
        source_image=source_image.strip().lower() if source_image else None,
        output_a=output_a.strip().lower(), model_a=model_a,
        output_b=output_b.strip().lower(), model_b=model_b,
        taxonomy_id=taxonomy_id or None, provenance=dict(provenance or {}), active=0,
    )
    try:
        with studio.db.session() as s:
            _ensure_image_row(studio, s, output_a, "output_a")
            _ensure_image_row(studio, s, output_b, "output_b")
            if source_image:
                _ensure_image_row(studio, s, source_image, "source_image")
            last = s.scalar(select(func.max(ComparisonItem.position)).where(ComparisonItem.batch_id == batch_id))
            item.position = (last or 0) + 1
            s.add(item)
    except IntegrityError:
        if item_key is not None:
            existing = _item_by_key(studio, batch_id, item_key)
            if existing:
                return existing
        raise
    return item.id


def _item_by_key(studio, batch_id: str, item_key: str) -> str | None:
    with studio.db.session() as s:
        return s.scalar(
            select(ComparisonItem.id).where(ComparisonItem.batch_id == batch_id, ComparisonItem.item_key == item_key)
        )


def batch_items(studio, batch: str) -> list[dict[str, Any]]:
    """All items of a batch as dicts (admin view: includes model names)."""
    batch_id = resolve_batch(studio, batch)
    with studio.db.session() as s:
        rows = s.scalars(
            select(ComparisonItem).where(ComparisonItem.batch_id == batch_id).order_by(ComparisonItem.position)
        ).all()
        return [
            {
                "id": r.id, "position": r.position, "task": r.task, "prompt": r.prompt,
                "source_image": r.source_image, "output_a": r.output_a, "model_a": r.model_a,
                "output_b": r.output_b, "model_b": r.model_b, "taxonomy_id": r.taxonomy_id,
                "provenance": r.provenance, "item_key": r.item_key,
            }
            for r in rows
        ]
