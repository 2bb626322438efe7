"""One click of the annotate page: store the vote, assign the next item, count the progress.

This is the path every vote takes, so it runs as few statements as it can, as SQLAlchemy Core
statements built once (no ORM objects, no statement building per call):

1. one read: the assignment with its item, batch, any earlier vote, the annotator's other open
   assignments and the progress counts; then the next candidates (free items the annotator has not
   seen);
2. one write transaction: mark the assignment voted, insert the vote, claim a slot of the first
   candidate that still has room (the same conditional ``UPDATE ... WHERE active < overlap`` as
   :func:`studio.annotation.voting.next_item`) and insert its assignment — so the vote and the next
   item are committed together, before anything is returned;
3. no read of the progress: its counts come with the first read and are moved by what was written.

Anything unusual (a resent vote, an expired or released assignment, other open items to resume, a
closed batch, no candidate left with room) goes through :mod:`studio.annotation.voting`'s general
functions instead, which give the same results with more statements.
"""
from __future__ import annotations

import contextlib
import random
from typing import Any, Iterator, Sequence

from sqlalchemy import and_, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from studio.annotation import AnnotationError
from studio.annotation.models import Assignment, ComparisonBatch, ComparisonItem, PairwiseVote
from studio.annotation import voting
from studio.db.base import new_id, utcnow

_A = Assignment.__table__
_I = ComparisonItem.__table__
_B = ComparisonBatch.__table__
_V = PairwiseVote.__table__
_OTHER = _A.alias("other_open")  # aliases: counted rows, apart from the assignment's own row
_VC = _V.alias("votes_counted")
_IC = _I.alias("items_counted")
_spread = random.Random()  # spreads concurrent annotators over equally covered items (SystemRandom
# costs one urandom call per element shuffled)
CANDIDATES = 24  # items read per click; more are read only if all of these filled up meanwhile

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
        _count(_IC.c.batch_id == _A.c.batch_id).label("items"),
        _count(_VC.c.batch_id == _A.c.batch_id, _VC.c.winner != "skip").label("batch_votes"),
    )
    .select_from(_A.join(_I, _I.c.id == _A.c.item_id).join(_B, _B.c.id == _A.c.batch_id)
                 .outerjoin(_V, and_(_V.c.item_id == _A.c.item_id, _V.c.annotator == _A.c.annotator)))
    .where(_A.c.id == bindparam("assignment_id"))
)

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


def vote_and_next(
    studio,
    assignment_id: str,
    annotator: str,
    choice: str,
    *,
    criteria_choices: dict[str, str] | Sequence[str | None] | None = None,
) -> tuple[voting.VoteReceipt, voting.ItemView | None, voting.Progress]:
    """Store the vote (committed first), then the next item and the progress; see the module docstring."""
    annotator = voting._check_annotator(annotator)
    if choice not in voting.CHOICES:
        raise AnnotationError(f"choice must be one of {', '.join(voting.CHOICES)}, got {choice!r}")
    for _attempt in range(5):
        try:
            return _click(studio, (assignment_id or "").strip(), annotator, choice, criteria_choices or {})
        except _Unusual:
            return voting.vote_and_next_general(studio, assignment_id, annotator, choice,
                                                criteria_choices=criteria_choices)
        except (IntegrityError, voting._StateChanged):
            continue  # a resend or another tab got there first: read again
    raise AnnotationError("the vote could not be stored; please try again")


def _click(studio, assignment_id: str, annotator: str, choice: str,
           extra: dict[str, str] | Sequence[str | None]) -> tuple[voting.VoteReceipt, voting.ItemView | None,
                                                                  voting.Progress]:
    with studio.db.engine.connect() as conn:
        row = conn.execute(_READ, {"assignment_id": assignment_id}).first()
        if row is None or row.annotator != annotator:
            raise AnnotationError("this item is not assigned to you; reload to get your next item")
        if row.vote_id is not None or row.status != "open" or row.other_open or row.batch_status != "open":
            raise _Unusual()
        voting.expire_stale(studio, row.batch_id)  # throttled: a clock check on almost every click
        params = {"batch_id": row.batch_id, "annotator": annotator, "overlap": row.overlap}
        candidates = conn.execute(_CANDIDATES, params).all()
    criteria = list(row.batch_criteria or ["overall"])
    by_criterion = voting.criteria_winners(criteria, choice, extra, row.a_on_left)
    now = utcnow()
    shown = row.shown_at
    if shown is not None and shown.tzinfo is None:
        shown = shown.replace(tzinfo=now.tzinfo)
    latency = int((now - shown).total_seconds() * 1000) if shown is not None else None
    order = [c for c in candidates if c.active == candidates[0].active] if candidates else []
    _spread.shuffle(order)  # sides stay drawn from the system's randomness below; this only spreads load
    order += [c for c in candidates if c.active != candidates[0].active]
    taken, a_on_left, next_id = None, voting._rng.random() < 0.5, new_id()
    with _write(studio) as conn:
        closed = conn.execute(_CLOSE, {"assignment_id": assignment_id,
                                       "new_status": "skipped" if choice == "skip" else "voted"})
        if closed.rowcount != 1:
            raise voting._StateChanged()
        conn.execute(_INSERT_VOTE, {
            "id": new_id(), "item_id": row.item_id, "batch_id": row.batch_id, "assignment_id": assignment_id,
            "annotator": annotator, "shown_choice": choice, "a_on_left": row.a_on_left,
            "winner": by_criterion[criteria[0]], "criteria": by_criterion, "latency_ms": latency, "created_at": now})
        if choice == "skip":
            conn.execute(_FREE_SLOT, {"item_id": row.item_id})
        for cand in order:
            if conn.execute(_CLAIM, {"item_id": cand.id, "overlap": row.overlap}).rowcount == 1:
                conn.execute(_INSERT_ASSIGNMENT, {
                    "id": next_id, "item_id": cand.id, "batch_id": row.batch_id, "annotator": annotator,
                    "a_on_left": a_on_left, "status": "open", "created_at": now, "shown_at": now})
                taken = cand
                break
    left, right = (row.model_a, row.model_b) if row.a_on_left else (row.model_b, row.model_a)
    receipt = voting.VoteReceipt(item_id=row.item_id, winner=by_criterion[criteria[0]], shown_choice=choice,
                                 left_model=left, right_model=right, criteria=by_criterion,
                                 had_source=row.source_image is not None)
    if taken is None:  # every candidate filled up meanwhile, or none was left: the general look-up
        batch_row = voting._batch_row(studio, row.batch_id)
        view = voting.next_item(studio, row.batch_id, annotator, batch_row=batch_row, check_open=False)
        return receipt, view, voting.progress(studio, row.batch_id, annotator, batch_row=batch_row)
    first, second = (taken.output_a, taken.output_b) if a_on_left else (taken.output_b, taken.output_a)
    view = voting.ItemView(assignment_id=next_id, batch_id=row.batch_id, prompt=taken.prompt, task=taken.task,
                           left_image=first, right_image=second, source_image=taken.source_image,
                           criteria=criteria, guidelines=row.guidelines or "")
    # the counts read before the vote, moved by what this click wrote: one more vote, the voted item
    # no longer open, the taken one open and no longer free (others' clicks meanwhile show next time)
    done, open_mine, free = row.done + 1, row.other_open + 1, row.with_room - row.seen_with_room - 1
    progress = voting.Progress(done=done, available=done + open_mine + free,
                               batch_votes=row.batch_votes + (choice != "skip"), batch_target=row.items * row.overlap)
    return receipt, view, progress
