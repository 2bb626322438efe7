"""What an annotator sees and does: the next item (blind), a vote, undo, progress.

Assignment keeps every item within its batch's overlap under any number of concurrent annotators:
taking an item is one conditional ``UPDATE annotation_items SET active = active + 1 WHERE id = ? AND
active < overlap`` (atomic on SQLite and on PostgreSQL), and an annotator holds at most one slot per
item (unique (item, annotator)). A slot is freed by a skip or when an assignment stays unanswered
longer than ``settings.annotation_assignment_timeout_s`` (then it expires and goes to someone else).

In-flight margin: the number of non-skip votes on an item never exceeds the overlap, except when an
annotator answers an assignment *after* it expired and the freed slot was already taken again; each
such late vote can add one over the overlap (none when every vote arrives within the timeout).

Views handed to the UI contain the prompt, the images as "left"/"right" and an opaque assignment id,
never the model names; those come back only in the receipt of a vote.
"""
from __future__ import annotations

import contextlib
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Iterator, Sequence

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from studio.annotation import AnnotationError
from studio.annotation.models import Assignment, ComparisonBatch, ComparisonItem, PairwiseVote
from studio.annotation.service import resolve_batch
from studio.db.base import new_id, utcnow

#: the buttons an annotator has; "left" is the side labelled A
CHOICES = ("left", "right", "tie", "tie_bad", "skip")
_rng = random.SystemRandom()
_sqlite_writer = threading.Lock()


@contextlib.contextmanager
def _writing(studio) -> Iterator[Any]:
    """A short write transaction. On SQLite, writers of this process queue on a lock instead of
    sleeping in SQLite's busy handler (which backs off in steps of milliseconds under contention)."""
    if studio.db.dialect == "sqlite":
        with _sqlite_writer, studio.db.session() as s:
            yield s
    else:
        with studio.db.session() as s:
            yield s


class _StateChanged(Exception):
    """The assignment changed between reading and writing (expired, voted); read again."""


@dataclass
class ItemView:
    """One blind item for one annotator: no model names, sides as the annotator sees them."""

    assignment_id: str
    batch_id: str
    prompt: str
    task: str
    left_image: str
    right_image: str
    source_image: str | None
    criteria: list[str]
    guidelines: str


@dataclass
class Progress:
    """An annotator's position in a batch and the batch's overall coverage."""

    done: int
    available: int
    batch_votes: int
    batch_target: int

    def text(self) -> str:
        return (f"You: {self.done} done of {self.available} · "
                f"batch: {self.batch_votes} / {self.batch_target} votes")


@dataclass
class VoteReceipt:
    """What the annotator learns after voting: the reveal, and whether the vote was a resend."""

    item_id: str
    winner: str
    shown_choice: str
    left_model: str
    right_model: str
    duplicate: bool = False
    criteria: dict[str, str] = field(default_factory=dict)
    #: the voted item showed a source image (an edit): the page knows what it shows without asking
    had_source: bool = False

    def text(self) -> str:
        if self.shown_choice == "skip":
            return "Skipped."
        label = {"left": "A better", "right": "B better", "tie": "Tie (both good)",
                 "tie_bad": "Tie (both bad)"}[self.shown_choice]
        again = " (already recorded)" if self.duplicate else ""
        return f"Recorded{again}: {label}. A was {self.left_model}, B was {self.right_model}."


def _winner(choice: str, a_on_left: bool) -> str:
    if choice == "left":
        return "model_a" if a_on_left else "model_b"
    if choice == "right":
        return "model_b" if a_on_left else "model_a"
    return {"tie": "tie", "tie_bad": "tie (bothbad)", "skip": "skip"}[choice]


def _view(item: ComparisonItem, batch: ComparisonBatch, a: Assignment) -> ItemView:
    left, right = (item.output_a, item.output_b) if a.a_on_left else (item.output_b, item.output_a)
    return ItemView(
        assignment_id=a.id, batch_id=batch.id, prompt=item.prompt, task=item.task,
        left_image=left, right_image=right, source_image=item.source_image,
        criteria=list(batch.criteria or ["overall"]), guidelines=batch.guidelines or "",
    )


def _timeout(studio) -> timedelta:
    return timedelta(seconds=int(getattr(studio.settings, "annotation_assignment_timeout_s", 1800)))


_last_sweep: dict[str, float] = {}
SWEEP_EVERY_S = 15.0


def sweep_due(batch_id: str) -> bool:
    """Whether :func:`expire_stale` would sweep the batch now (a clock check, nothing else)."""
    return time.monotonic() - _last_sweep.get(batch_id, -1e9) >= SWEEP_EVERY_S


def expire_stale(studio, batch_id: str, *, force: bool = False) -> int:
    """Free the slots of assignments left unanswered past the timeout; returns how many.

    Runs at most every SWEEP_EVERY_S seconds per batch in a process (unless forced): a late sweep
    only delays when a slot frees, it never over-assigns.
    """
    if not force and not sweep_due(batch_id):
        return 0
    _last_sweep[batch_id] = time.monotonic()
    cutoff = utcnow() - _timeout(studio)
    freed = 0
    with studio.db.session() as s:
        stale = s.execute(
            select(Assignment.id, Assignment.item_id)
            .where(Assignment.batch_id == batch_id, Assignment.status == "open", Assignment.shown_at < cutoff)
            .limit(200)
        ).all()
    if not stale:
        return 0
    with _writing(studio) as s:
        for aid, item_id in stale:
            res = s.execute(
                update(Assignment).where(Assignment.id == aid, Assignment.status == "open").values(status="expired")
            )
            if res.rowcount == 1:
                s.execute(update(ComparisonItem).where(ComparisonItem.id == item_id)
                          .values(active=ComparisonItem.active - 1))
                freed += 1
    return freed


def _open_assignment(studio, batch_row: ComparisonBatch, annotator: str) -> ItemView | None:
    """The annotator's most recently shown open item (after a reload or an undo), marked as shown now."""
    with studio.db.session() as s:
        row = s.execute(
            select(Assignment, ComparisonItem)
            .join(ComparisonItem, ComparisonItem.id == Assignment.item_id)
            .where(Assignment.batch_id == batch_row.id, Assignment.annotator == annotator,
                   Assignment.status == "open")
            .order_by(Assignment.shown_at.desc(), Assignment.id)
            .limit(1)
        ).first()
    if row is None:
        return None
    a, item = row
    with _writing(studio) as s:
        s.execute(update(Assignment).where(Assignment.id == a.id).values(shown_at=utcnow()))
    return _view(item, batch_row, a)


def _batch_row(studio, batch: str) -> ComparisonBatch:
    batch_id = resolve_batch(studio, batch)
    with studio.db.session() as s:
        return s.get(ComparisonBatch, batch_id)


def _check_annotator(annotator: str) -> str:
    annotator = (annotator or "").strip()
    if not annotator:
        raise AnnotationError("sign in (or type your name) before annotating")
    if len(annotator) > 128:
        raise AnnotationError("annotator names are at most 128 characters")
    return annotator


def check_vote(annotator: str, choice: str) -> str:
    """The annotator name as stored, after the checks every vote gets before touching the database."""
    annotator = _check_annotator(annotator)
    if choice not in CHOICES:
        raise AnnotationError(f"choice must be one of {', '.join(CHOICES)}, got {choice!r}")
    return annotator


def next_item(studio, batch: str, annotator: str, *, batch_row: ComparisonBatch | None = None,
              check_open: bool = True) -> ItemView | None:
    """The annotator's current item (resumed after a reload) or a newly assigned one; None when done."""
    annotator = _check_annotator(annotator)
    b = batch_row if batch_row is not None else _batch_row(studio, batch)
    current = _open_assignment(studio, b, annotator) if check_open else None
    if current is not None:
        return current
    if b.status != "open":
        raise AnnotationError(f"batch {b.name!r} is closed for annotation")
    expire_stale(studio, b.id)
    for _attempt in range(8):
        with studio.db.session() as s:
            seen = select(Assignment.item_id).where(Assignment.annotator == annotator, Assignment.batch_id == b.id)
            rows = s.scalars(
                select(ComparisonItem)
                .where(ComparisonItem.batch_id == b.id, ComparisonItem.active < b.overlap,
                       ComparisonItem.id.not_in(seen))
                .order_by(ComparisonItem.active, ComparisonItem.position)
                .limit(24)
            ).all()
        if not rows:
            if expire_stale(studio, b.id, force=True):  # nothing free: reclaim stale slots first
                continue
            return None
        # spread concurrent annotators over equally covered items instead of racing for the first
        candidates = [r for r in rows if r.active == rows[0].active]
        _rng.shuffle(candidates)
        candidates += [r for r in rows if r.active != rows[0].active]
        for item in candidates:
            view = _take(studio, b, item, annotator)
            if view is not None:
                return view
        current = _open_assignment(studio, b, annotator)
        if current is not None:
            return current
    return None


def _take(studio, batch: ComparisonBatch, item: ComparisonItem, annotator: str) -> ItemView | None:
    """Claim one slot of ``item`` for ``annotator`` atomically; None if it filled up meanwhile."""
    now = utcnow()
    a = Assignment(id=new_id(), item_id=item.id, batch_id=batch.id, annotator=annotator,
                   a_on_left=_rng.random() < 0.5, status="open", created_at=now, shown_at=now)
    try:
        with _writing(studio) as s:
            res = s.execute(
                update(ComparisonItem)
                .where(ComparisonItem.id == item.id, ComparisonItem.active < batch.overlap)
                .values(active=ComparisonItem.active + 1)
            )
            if res.rowcount != 1:
                return None
            s.execute(insert(Assignment).values(id=a.id, item_id=a.item_id, batch_id=a.batch_id, annotator=annotator,
                                                a_on_left=a.a_on_left, status="open", created_at=now, shown_at=now))
    except IntegrityError:  # the same annotator claimed it from another tab at the same moment
        return None
    return _view(item, batch, a)


def _receipt(vote: PairwiseVote, item: ComparisonItem, duplicate: bool) -> VoteReceipt:
    left, right = (item.model_a, item.model_b) if vote.a_on_left else (item.model_b, item.model_a)
    return VoteReceipt(item_id=item.id, winner=vote.winner, shown_choice=vote.shown_choice,
                       left_model=left, right_model=right, duplicate=duplicate, criteria=dict(vote.criteria),
                       had_source=item.source_image is not None)


def vote(
    studio,
    assignment_id: str,
    annotator: str,
    choice: str,
    *,
    criteria_choices: dict[str, str] | Sequence[str | None] | None = None,
) -> VoteReceipt:
    """Record one vote, committed before returning; a resend of the same assignment returns the first.

    ``choice`` is one of :data:`CHOICES` for the batch's first criterion; ``criteria_choices`` gives
    the other criteria (left/right/tie/tie_bad), all required when the batch asks for several: a
    dict by criterion name, or a list in the batch's order of criteria after the first.
    """
    annotator = check_vote(annotator, choice)
    for _attempt in range(5):
        try:
            return _vote_once(studio, assignment_id, annotator, choice, criteria_choices or {})[0]
        except (IntegrityError, _StateChanged):
            continue  # a concurrent resend (or an expiry) got there first: the next round reads it back
    raise AnnotationError("the vote could not be stored; please try again")


def criteria_winners(criteria: list[str], choice: str, extra: dict[str, str] | Sequence[str | None],
                     a_on_left: bool) -> dict[str, str]:
    """Winner per criterion (item's side): the button answers the first, ``extra`` the others."""
    if not isinstance(extra, dict):
        extra = {crit: val for crit, val in zip(criteria[1:], extra) if val}
    by_criterion = {criteria[0]: _winner(choice, a_on_left)}
    if choice != "skip":
        for crit in criteria[1:]:
            c = extra.get(crit)
            if c not in ("left", "right", "tie", "tie_bad"):
                raise AnnotationError(f"choose A, B or a tie for “{crit.replace('_', ' ')}” too")
            by_criterion[crit] = _winner(c, a_on_left)
    return by_criterion


def _vote_once(studio, assignment_id: str, annotator: str, choice: str,
               extra: dict[str, str] | Sequence[str | None]) -> tuple[VoteReceipt, ComparisonBatch, int | None]:
    with studio.db.session() as s:  # read everything in one statement; the write below is short
        row = s.execute(
            select(Assignment, ComparisonItem, ComparisonBatch, PairwiseVote, _other_open(annotator))
            .join(ComparisonItem, ComparisonItem.id == Assignment.item_id)
            .join(ComparisonBatch, ComparisonBatch.id == Assignment.batch_id)
            .outerjoin(PairwiseVote, and_(PairwiseVote.item_id == Assignment.item_id,
                                          PairwiseVote.annotator == Assignment.annotator))
            .where(Assignment.id == (assignment_id or "").strip())
        ).first()
    if row is None or row[0].annotator != annotator:
        raise AnnotationError("this item is not assigned to you; reload to get your next item")
    a, item, batch, existing, other_open = row
    if existing is not None:
        return _receipt(existing, item, duplicate=True), batch, None
    if a.status == "released":
        raise AnnotationError("this item already has all the votes it needs; press Start for your next item")
    criteria = list(batch.criteria or ["overall"])
    by_criterion = criteria_winners(criteria, choice, extra, a.a_on_left)
    now = utcnow()
    shown = a.shown_at
    if shown is not None and shown.tzinfo is None:
        shown = shown.replace(tzinfo=now.tzinfo)
    latency = int((now - shown).total_seconds() * 1000) if shown is not None else None
    v = PairwiseVote(id=new_id(), item_id=a.item_id, batch_id=a.batch_id, assignment_id=a.id,
                     annotator=annotator, shown_choice=choice, a_on_left=a.a_on_left,
                     winner=by_criterion[criteria[0]], criteria=by_criterion, latency_ms=latency, created_at=now)
    with _writing(studio) as s:
        res = s.execute(update(Assignment).where(Assignment.id == a.id, Assignment.status == a.status)
                        .values(status="skipped" if choice == "skip" else "voted"))
        if res.rowcount != 1:
            raise _StateChanged()
        s.execute(insert(PairwiseVote).values(
            id=v.id, item_id=v.item_id, batch_id=v.batch_id, assignment_id=v.assignment_id, annotator=annotator,
            shown_choice=choice, a_on_left=v.a_on_left, winner=v.winner, criteria=v.criteria,
            latency_ms=latency, created_at=now))
        if a.status == "expired" and choice != "skip":
            # the slot was given up while the annotator was still looking: take one back if there is room
            s.execute(update(ComparisonItem).where(ComparisonItem.id == item.id, ComparisonItem.active < batch.overlap)
                      .values(active=ComparisonItem.active + 1))
        elif a.status == "open" and choice == "skip":
            s.execute(update(ComparisonItem).where(ComparisonItem.id == item.id)
                      .values(active=ComparisonItem.active - 1))
    return _receipt(v, item, duplicate=False), batch, other_open


def _other_open(annotator: str):
    """How many other items the annotator holds open in the assignment's batch (read with the vote)."""
    a2 = aliased(Assignment)
    return (select(func.count()).select_from(a2)
            .where(a2.batch_id == Assignment.batch_id, a2.annotator == annotator, a2.status == "open",
                   a2.id != Assignment.id).scalar_subquery())


def vote_and_next(
    studio,
    assignment_id: str,
    annotator: str,
    choice: str,
    *,
    criteria_choices: dict[str, str] | Sequence[str | None] | None = None,
) -> tuple[VoteReceipt, ItemView | None, Progress]:
    """One click of the UI: store the vote (committed first), then the next item and the progress."""
    from studio.annotation import click

    return click.vote_and_next(studio, assignment_id, annotator, choice, criteria_choices=criteria_choices)


def vote_and_next_general(
    studio,
    assignment_id: str,
    annotator: str,
    choice: str,
    *,
    criteria_choices: dict[str, str] | Sequence[str | None] | None = None,
) -> tuple[VoteReceipt, ItemView | None, Progress]:
    """:func:`vote_and_next` for every case (resends, expired assignments, items to resume ...)."""
    annotator = check_vote(annotator, choice)
    for _attempt in range(5):
        try:
            receipt, batch_row, other_open = _vote_once(studio, assignment_id, annotator, choice,
                                                        criteria_choices or {})
            break
        except (IntegrityError, _StateChanged):
            continue
    else:
        raise AnnotationError("the vote could not be stored; please try again")
    view = None
    if batch_row.status == "open":  # with no other open item there is none to resume: skip that look-up
        view = next_item(studio, batch_row.id, annotator, batch_row=batch_row, check_open=other_open != 0)
    return receipt, view, progress(studio, batch_row.id, annotator, batch_row=batch_row)


def undo_last(studio, batch: str, annotator: str) -> ItemView | None:
    """Withdraw the annotator's latest vote in the batch and put that item back in front of them."""
    annotator = _check_annotator(annotator)
    batch_id = resolve_batch(studio, batch)
    with _writing(studio) as s:
        v = s.scalars(
            select(PairwiseVote)
            .where(PairwiseVote.batch_id == batch_id, PairwiseVote.annotator == annotator)
            .order_by(PairwiseVote.created_at.desc(), PairwiseVote.id.desc())
            .limit(1)
        ).first()
        if v is None:
            raise AnnotationError("nothing to undo")
        a = s.get(Assignment, v.assignment_id)
        batch_row = s.get(ComparisonBatch, batch_id)
        s.execute(delete(PairwiseVote).where(PairwiseVote.id == v.id))
        if v.winner == "skip":
            res = s.execute(update(ComparisonItem)
                            .where(ComparisonItem.id == v.item_id, ComparisonItem.active < batch_row.overlap)
                            .values(active=ComparisonItem.active + 1))
            a.status = "open" if res.rowcount == 1 else "released"
        else:
            a.status = "open"
        a.shown_at = utcnow()  # the most recently shown open item is the one put in front of them
        if a.status != "open":
            return None
    return _open_assignment(studio, batch_row, annotator)


def progress(studio, batch: str, annotator: str, *, batch_row: ComparisonBatch | None = None) -> Progress:
    """Votes (and skips) by this annotator, items still open to them, and the batch's coverage."""
    annotator = _check_annotator(annotator)
    b = batch_row if batch_row is not None else _batch_row(studio, batch)
    batch_id, overlap = b.id, b.overlap
    count = lambda *where: select(func.count()).where(*where).scalar_subquery()  # noqa: E731
    seen = select(Assignment.item_id).where(Assignment.annotator == annotator, Assignment.batch_id == batch_id)
    with studio.db.session() as s:
        done, open_mine, free, items, votes = s.execute(select(
            count(PairwiseVote.batch_id == batch_id, PairwiseVote.annotator == annotator),
            count(Assignment.batch_id == batch_id, Assignment.annotator == annotator, Assignment.status == "open"),
            count(ComparisonItem.batch_id == batch_id, ComparisonItem.active < overlap, ComparisonItem.id.not_in(seen)),
            count(ComparisonItem.batch_id == batch_id),
            count(PairwiseVote.batch_id == batch_id, PairwiseVote.winner != "skip"),
        )).one()
    return Progress(done=done, available=done + open_mine + free, batch_votes=votes, batch_target=items * overlap)


def annotator_votes(studio, batch: str, annotator: str) -> list[dict[str, Any]]:
    """The annotator's own votes in a batch (their history; no one else's)."""
    batch_id = resolve_batch(studio, batch)
    with studio.db.session() as s:
        rows = s.execute(
            select(PairwiseVote.item_id, PairwiseVote.shown_choice, PairwiseVote.created_at)
            .where(and_(PairwiseVote.batch_id == batch_id, PairwiseVote.annotator == annotator))
            .order_by(PairwiseVote.created_at)
        ).all()
    return [{"item_id": r[0], "choice": r[1], "at": r[2].isoformat()} for r in rows]
