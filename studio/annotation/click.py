"""One click of the annotate page: store the vote, assign the next item, count the progress.

This is the path every vote takes, so it runs as few statements as it can, as SQLAlchemy Core
statements built once (no ORM objects, no statement building per call), all in one write
transaction, so the vote and the next item are committed together before anything is returned:

1. one read: the assignment with its item, batch, any earlier vote, the annotator's other open
   assignments and the progress counts; then the next candidates (free items the annotator has not
   seen);
2. the writes: mark the assignment voted, insert the vote, claim a slot of the first candidate that
   still has room (the same conditional ``UPDATE ... WHERE active < overlap`` as
   :func:`studio.annotation.voting.next_item`) and insert its assignment;
3. no read of the progress: its counts come with the first read and are moved by what was written.

:func:`click_in` is that body on any executor; :func:`vote_and_next` runs it in a transaction of
its own (any database, any thread) and :mod:`studio.annotation.grouped`'s writer thread runs the
clicks that arrive together in one transaction. Anything unusual (a resent vote, an expired or released assignment,
other open items to resume, a closed batch, no candidate left with room) goes through
:mod:`studio.annotation.voting`'s general functions instead, which give the same results with more
statements.
"""
from __future__ import annotations

import contextlib
import random
import time
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from sqlalchemy import and_, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from studio.annotation import AnnotationError
from studio.annotation.models import Assignment, ComparisonBatch, ComparisonItem, PairwiseVote
from studio.annotation import voting
from studio.db.base import new_id, utcnow
from studio.db.prepared import CoreExecutor

_A = Assignment.__table__
_I = ComparisonItem.__table__
_B = ComparisonBatch.__table__
_V = PairwiseVote.__table__
_OTHER = _A.alias("other_open")  # aliases: counted rows, apart from the assignment's own row
_VC = _V.alias("votes_counted")
_IC = _I.alias("items_counted")
_spread = random.Random()  # spreads concurrent annotators over equally covered items (SystemRandom
# costs one urandom call per element shuffled)
CANDIDATES = 8  # items read per click (each row is a step of SQLite); if all filled up meanwhile, the general look-up

_SEEN = select(_A.c.item_id).where(_A.c.annotator == bindparam("annotator"), _A.c.batch_id == bindparam("batch_id"))
_CANDIDATES = (
    select(_I.c.id, _I.c.active, _I.c.prompt, _I.c.task, _I.c.output_a, _I.c.output_b, _I.c.source_image)
    .where(_I.c.batch_id == bindparam("batch_id"), _I.c.active < bindparam("overlap"), _I.c.id.not_in(_SEEN))
    .order_by(_I.c.active, _I.c.position)
    .limit(CANDIDATES)
)


def _count(*where):
    return select(func.count()).where(*where).scalar_subquery()


_SEEN_BY, _SEEN_ITEM = _A.alias("seen"), _I.alias("seen_item")
_READ = (
    select(
        _A.c.id, _A.c.item_id, _A.c.batch_id, _A.c.annotator, _A.c.a_on_left, _A.c.status, _A.c.shown_at,
        _I.c.model_a, _I.c.model_b, _I.c.source_image,
        _B.c.overlap, _B.c.criteria.label("batch_criteria"), _B.c.guidelines, _B.c.status.label("batch_status"),
        _V.c.id.label("vote_id"),
        # the annotator's other open items, then the progress counts as they stand before this vote
        _count(_OTHER.c.batch_id == _A.c.batch_id, _OTHER.c.annotator == _A.c.annotator,
               _OTHER.c.status == "open", _OTHER.c.id != _A.c.id).label("other_open"),
        _count(_VC.c.batch_id == _A.c.batch_id, _VC.c.annotator == _A.c.annotator).label("done"),
        # free = items with room - those among them the annotator has seen (two index look-ups)
        _count(_IC.c.batch_id == _A.c.batch_id, _IC.c.active < _B.c.overlap).label("with_room"),
        select(func.count()).select_from(_SEEN_BY.join(_SEEN_ITEM, _SEEN_ITEM.c.id == _SEEN_BY.c.item_id))
        .where(_SEEN_BY.c.batch_id == _A.c.batch_id, _SEEN_BY.c.annotator == _A.c.annotator,
               _SEEN_ITEM.c.active < _B.c.overlap).scalar_subquery().label("seen_with_room"),
    )
    .select_from(_A.join(_I, _I.c.id == _A.c.item_id).join(_B, _B.c.id == _A.c.batch_id)
                 .outerjoin(_V, and_(_V.c.item_id == _A.c.item_id, _V.c.annotator == _A.c.annotator)))
    .where(_A.c.id == bindparam("assignment_id"))
)

# the batch's size and vote count for the progress line: read at most every TOTALS_TTL_S per process
_TOTALS = select(_count(_IC.c.batch_id == bindparam("batch_id")).label("items"),
                 _count(_VC.c.batch_id == bindparam("batch_id"), _VC.c.winner != "skip").label("votes"))
TOTALS_TTL_S = 2.0
_totals: dict[str, list] = {}  # batch id -> [read at (monotonic), items, votes]


def _batch_totals(ex, batch_id: str) -> list:
    """[read at, items, votes] of a batch: counting every vote of a large batch on every click would
    cost more than the click, and the line is a display, so a count up to TOTALS_TTL_S old, moved on by
    this process's own votes, stands in for it."""
    hit = _totals.get(batch_id)
    now = time.monotonic()
    if hit is None or now - hit[0] > TOTALS_TTL_S:
        row = ex.first(_TOTALS, {"batch_id": batch_id})
        hit = _totals[batch_id] = [now, row.items, row.votes]
    return hit


_CLOSE = (update(_A).where(_A.c.id == bindparam("assignment_id"), _A.c.status == "open")
          .values(status=bindparam("new_status")))
_INSERT_VOTE = insert(_V)
_FREE_SLOT = update(_I).where(_I.c.id == bindparam("item_id")).values(active=_I.c.active - 1)
_CLAIM = (update(_I).where(_I.c.id == bindparam("item_id"), _I.c.active < bindparam("overlap"))
          .values(active=_I.c.active + 1))
_INSERT_ASSIGNMENT = insert(_A)


@contextlib.contextmanager
def _write(studio) -> Iterator[Any]:
    """A write transaction on a connection; SQLite writers of this process queue on voting's lock."""
    if studio.db.dialect == "sqlite":
        with voting._sqlite_writer, studio.db.engine.begin() as conn:
            yield conn
    else:
        with studio.db.engine.begin() as conn:
            yield conn


class _Unusual(Exception):
    """This click needs the general path (see the module docstring)."""


@dataclass
class Clicked:
    """What one click wrote. ``view``/``progress`` are None when no candidate could be taken (all
    filled up meanwhile, or none left): then :func:`finish` looks the next item up the general way."""

    receipt: voting.VoteReceipt
    batch_id: str
    view: voting.ItemView | None
    progress: voting.Progress | None


def vote_and_next(
    studio,
    assignment_id: str,
    annotator: str,
    choice: str,
    *,
    criteria_choices: dict[str, str] | Sequence[str | None] | None = None,
) -> tuple[voting.VoteReceipt, voting.ItemView | None, voting.Progress]:
    """Store the vote (committed first), then the next item and the progress; see the module docstring."""
    annotator = voting.check_vote(annotator, choice)
    for _attempt in range(5):
        try:
            with _write(studio) as conn:
                clicked = click_in(CoreExecutor(conn), (assignment_id or "").strip(), annotator, choice,
                                   criteria_choices or {})
            return finish(studio, annotator, clicked)
        except _Unusual:
            return voting.vote_and_next_general(studio, assignment_id, annotator, choice,
                                                criteria_choices=criteria_choices)
        except (IntegrityError, voting._StateChanged):
            continue  # a resend or another tab got there first: read again
    raise AnnotationError("the vote could not be stored; please try again")


def finish(studio, annotator: str, clicked: Clicked) -> tuple[voting.VoteReceipt, voting.ItemView | None,
                                                              voting.Progress]:
    """After the commit: the throttled sweep of stale assignments (it frees slots for later clicks),
    and the general look-up of the next item when the click could not take one itself."""
    voting.expire_stale(studio, clicked.batch_id)  # a clock check on almost every click
    if clicked.view is not None and clicked.progress is not None:
        return clicked.receipt, clicked.view, clicked.progress
    batch_row = voting._batch_row(studio, clicked.batch_id)
    view = voting.next_item(studio, clicked.batch_id, annotator, batch_row=batch_row, check_open=False)
    return clicked.receipt, view, voting.progress(studio, clicked.batch_id, annotator, batch_row=batch_row)


def click_in(ex, assignment_id: str, annotator: str, choice: str,
             extra: dict[str, str] | Sequence[str | None]) -> Clicked:
    """The click's statements on ``ex`` (a :class:`~studio.db.prepared.CoreExecutor` or
    :class:`~studio.db.prepared.RawExecutor`) inside the caller's write transaction.

    Raises :class:`AnnotationError` (not the annotator's item, a criterion unanswered) or
    :class:`_Unusual` before writing anything; ``voting._StateChanged`` means the caller must roll back.
    """
    row = ex.first(_READ, {"assignment_id": assignment_id})
    if row is None or row.annotator != annotator:
        raise AnnotationError("this item is not assigned to you; reload to get your next item")
    if row.vote_id is not None or row.status != "open" or row.other_open or row.batch_status != "open":
        raise _Unusual()
    criteria = list(row.batch_criteria or ["overall"])
    by_criterion = voting.criteria_winners(criteria, choice, extra, row.a_on_left)
    candidates = ex.all(_CANDIDATES, {"batch_id": row.batch_id, "annotator": annotator, "overlap": row.overlap})
    now = utcnow()
    shown = row.shown_at
    if shown is not None and shown.tzinfo is None:
        shown = shown.replace(tzinfo=now.tzinfo)
    latency = int((now - shown).total_seconds() * 1000) if shown is not None else None
    order = [c for c in candidates if c.active == candidates[0].active] if candidates else []
    _spread.shuffle(order)  # sides stay drawn from the system's randomness below; this only spreads load
    order += [c for c in candidates if c.active != candidates[0].active]
    taken, a_on_left, next_id = None, voting._rng.random() < 0.5, new_id()
    closed = ex.rowcount(_CLOSE, {"assignment_id": assignment_id,
                                  "new_status": "skipped" if choice == "skip" else "voted"})
    if closed != 1:
        raise voting._StateChanged()
    ex.rowcount(_INSERT_VOTE, {
        "id": new_id(), "item_id": row.item_id, "batch_id": row.batch_id, "assignment_id": assignment_id,
        "annotator": annotator, "shown_choice": choice, "a_on_left": row.a_on_left,
        "winner": by_criterion[criteria[0]], "criteria": by_criterion, "latency_ms": latency, "created_at": now})
    if choice == "skip":
        ex.rowcount(_FREE_SLOT, {"item_id": row.item_id})
    elif (cached := _totals.get(row.batch_id)) is not None:
        cached[2] += 1
    for cand in order:
        if ex.rowcount(_CLAIM, {"item_id": cand.id, "overlap": row.overlap}) == 1:
            ex.rowcount(_INSERT_ASSIGNMENT, {
                "id": next_id, "item_id": cand.id, "batch_id": row.batch_id, "annotator": annotator,
                "a_on_left": a_on_left, "status": "open", "created_at": now, "shown_at": now})
            taken = cand
            break
    left, right = (row.model_a, row.model_b) if row.a_on_left else (row.model_b, row.model_a)
    receipt = voting.VoteReceipt(item_id=row.item_id, winner=by_criterion[criteria[0]], shown_choice=choice,
                                 left_model=left, right_model=right, criteria=by_criterion,
                                 had_source=row.source_image is not None)
    if taken is None:
        return Clicked(receipt, row.batch_id, None, None)
    first, second = (taken.output_a, taken.output_b) if a_on_left else (taken.output_b, taken.output_a)
    view = voting.ItemView(assignment_id=next_id, batch_id=row.batch_id, prompt=taken.prompt, task=taken.task,
                           left_image=first, right_image=second, source_image=taken.source_image,
                           criteria=criteria, guidelines=row.guidelines or "")
    # the counts read before the vote, moved by what this click wrote: one more vote, the voted item
    # no longer open, the taken one open and no longer free (others' clicks meanwhile show next time)
    done, open_mine, free = row.done + 1, row.other_open + 1, row.with_room - row.seen_with_room - 1
    totals = _batch_totals(ex, row.batch_id)  # read after the insert when it is read
    progress = voting.Progress(done=done, available=done + open_mine + free,
                               batch_votes=totals[2], batch_target=totals[1] * row.overlap)
    return Clicked(receipt, row.batch_id, view, progress)
