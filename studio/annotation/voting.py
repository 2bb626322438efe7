"""What an annotator does — start, vote (or skip), undo — through one entry point, :func:`annotate`.

Votes are facts, only ever added: a vote or a skip is a row of ``annotation_votes``; an undo is a row
of ``annotation_retractions`` naming the vote it withdraws. Progress, results and ratings count the
votes that have no retraction.

Assignment keeps every item within its batch's overlap under any number of concurrent annotators. An
*assignment* records that an item was put in front of one annotator (with the side drawn for output
A); there is at most one per (item, annotator), so nobody is shown an item twice. An item's
``active`` counts the assignments holding one of its ``overlap`` slots: taking one is the
conditional ``UPDATE ... SET active = active + 1 WHERE active < overlap`` inside the transaction
that records the assignment. A slot is freed by a skip, by an undo (the item goes back to the pool
for others, never to the person who saw it revealed), or when an assignment stays unanswered longer
than ``settings.annotation_assignment_timeout_s``.

In-flight margin: a vote that arrives after its assignment expired and its slot went to someone else
is still recorded, and can put the item one vote over its overlap (none when every vote arrives
within the timeout).

The views handed to the UI carry the prompt, the images as "left"/"right" and an opaque assignment
id, never model names; those come back only in the receipt of a vote.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Mapping, Sequence

from sqlalchemy import and_, bindparam, exists, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, OperationalError

from studio.annotation import AnnotationError
from studio.annotation.active_order import GOLD, choose_pair
from studio.annotation.hooks import PairOrder
from studio.annotation.vote_types import (  # noqa: F401 - the vote path's public types
    CHOICES, Action, ItemView, Progress, Start, Turn, Undo, Vote, VoteReceipt,
)
from studio.annotation.models import Assignment, ComparisonBatch, ComparisonItem, PairwiseVote, Retraction
from studio.db import Database
from studio.db.base import new_id, utcnow
from studio.db.models import StoredImage
from studio.settings import Settings

#: the buttons an annotator has; "left" is the side labelled A
_rng = random.SystemRandom()

_A = Assignment.__table__
_I = ComparisonItem.__table__
_B = ComparisonBatch.__table__
_V = PairwiseVote.__table__
_R = Retraction.__table__
_IMG_A, _IMG_B = StoredImage.__table__.alias("image_a"), StoredImage.__table__.alias("image_b")


# ---- the entry point ------------------------------------------------------------------------------

def annotate(db: Database, settings: Settings, annotator: str, action: Action, *,
             pair_order: PairOrder | None = None) -> Turn:
    """Do what the annotator asked, and find their next item, in one transaction of ``db``.

    ``pair_order`` (the studio's :class:`~studio.annotation.hooks.AnnotationHooks`) chooses the model
    pair of the next item in batches created with active ordering.

    1. Check the name and the action (nothing touches the database before this).
    2. Open one write transaction (``Database.writing``: on SQLite it holds the write lock from the
       start; on PostgreSQL the rows it takes are locked ``FOR UPDATE``, free items ``SKIP LOCKED``).
    3. Record the fact: a vote or skip for :class:`Vote` (a resend records nothing and answers with
       the first vote), a retraction of the latest vote for :class:`Undo`, nothing for :class:`Start`.
    4. Find the next item: the open one the annotator was shown last, or a slot of the least covered
       item with room that they have not been shown; when none has room, free the slots of
       assignments left unanswered past the timeout and look once more.
    5. Count the progress from the facts.
    6. Commit, then answer. An error anywhere rolls the whole transaction back; one that collided
       with a concurrent transaction on a unique key (or a PostgreSQL deadlock) runs it again.
    """
    annotator = check_annotator(annotator)
    if isinstance(action, Vote) and action.choice not in CHOICES:
        raise AnnotationError(f"choice must be one of {', '.join(CHOICES)}, got {action.choice!r}")
    timeout = timedelta(seconds=settings.annotation_assignment_timeout_s)
    for _attempt in range(5):
        try:
            with db.writing() as conn:
                return _turn(conn, annotator, action, timeout, pair_order)
        except (IntegrityError, _Collision):
            continue  # a resend, or the same person in another tab, got there first: read again
        except OperationalError as exc:
            code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)  # psycopg 3 / 2
            if db.dialect == "postgresql" and code in ("40P01", "40001"):  # deadlock, serialization
                continue
            raise
    raise AnnotationError("the vote could not be stored; please try again")


class _Collision(Exception):
    """A concurrent transaction changed what this one read: run it again."""


def check_annotator(annotator: str) -> str:
    """The annotator name as stored."""
    annotator = (annotator or "").strip()
    if not annotator:
        raise AnnotationError("sign in (or type your name) before annotating")
    if len(annotator) > 128:
        raise AnnotationError("annotator names are at most 128 characters")
    return annotator


def _turn(conn: Connection, annotator: str, action: Action, timeout: timedelta,
          pair_order: PairOrder | None = None) -> Turn:
    now = utcnow()
    receipt, note = None, ""
    if isinstance(action, Vote):
        receipt, batch = _record_vote(conn, annotator, action, now)
    else:
        batch = _batch(conn, action.batch)
        if isinstance(action, Undo):
            note = _retract(conn, batch, annotator, now)
    item = _resume(conn, batch, annotator, now)
    if item is None:
        if batch.status != "open":
            if isinstance(action, Start):
                raise AnnotationError(f"batch {batch.name!r} is closed for annotation")
        else:
            item = _claim(conn, batch, annotator, now, pair_order)
            if item is None and _expire_stale(conn, batch, now - timeout):
                item = _claim(conn, batch, annotator, now, pair_order)
    return Turn(item=item, progress=_progress(conn, batch, annotator), receipt=receipt, note=note)


# ---- the statements (built once: SQLAlchemy compiles each once per dialect and caches it) ----------

_BATCH_COLUMNS = (_B.c.id.label("batch_id"), _B.c.name.label("batch_name"), _B.c.overlap,
                  _B.c.criteria.label("batch_criteria"), _B.c.guidelines, _B.c.status.label("batch_status"),
                  _B.c.config.label("batch_config"))
_BATCH = select(*_BATCH_COLUMNS).where(or_(_B.c.id == bindparam("key"), _B.c.name == bindparam("key")))

# the assignment voted on, with its item's models, its batch and any earlier vote on the item (a resend)
_VOTED_ON = (
    select(_A.c.id, _A.c.item_id, _A.c.annotator, _A.c.a_on_left, _A.c.status, _A.c.shown_at,
           _I.c.model_a, _I.c.model_b, _I.c.source_image, *_BATCH_COLUMNS,
           _V.c.id.label("vote_id"), _V.c.shown_choice, _V.c.winner, _V.c.criteria)
    .select_from(_A.join(_I, _I.c.id == _A.c.item_id).join(_B, _B.c.id == _A.c.batch_id)
                 .outerjoin(_V, and_(_V.c.item_id == _A.c.item_id, _V.c.annotator == _A.c.annotator)))
    .where(_A.c.id == bindparam("assignment_id"))
    .with_for_update(of=_A)
)
_SET_STATUS = update(_A).where(_A.c.id == bindparam("assignment_id")).values(status=bindparam("new_status"))
_SET_SHOWN = update(_A).where(_A.c.id == bindparam("assignment_id")).values(shown_at=bindparam("now"))
_TAKE_SLOT = (update(_I).where(_I.c.id == bindparam("item_id"), _I.c.active < bindparam("overlap"))
              .values(active=_I.c.active + 1))
_FREE_SLOT = update(_I).where(_I.c.id == bindparam("item_id"), _I.c.active > 0).values(active=_I.c.active - 1)
_ADD_VOTE, _ADD_RETRACTION, _ADD_ASSIGNMENT = insert(_V), insert(_R), insert(_A)

_LATEST_VOTE = (
    select(_V.c.id, _V.c.assignment_id, _V.c.item_id, _V.c.winner)
    .where(_V.c.batch_id == bindparam("batch_id"), _V.c.annotator == bindparam("annotator"),
           ~exists().where(_R.c.vote_id == _V.c.id))
    .order_by(_V.c.created_at.desc(), _V.c.id.desc())
    .limit(1)
)
_LOCK_ASSIGNMENT = select(_A.c.id).where(_A.c.id == bindparam("assignment_id")).with_for_update()

_VIEW_COLUMNS = (_I.c.prompt, _I.c.task, _I.c.output_a, _I.c.output_b, _I.c.source_image,
                 _IMG_A.c.width.label("width_a"), _IMG_A.c.height.label("height_a"),
                 _IMG_B.c.width.label("width_b"), _IMG_B.c.height.label("height_b"))


def _with_images(frm):
    return (frm.join(_IMG_A, _IMG_A.c.sha256 == _I.c.output_a)
            .join(_IMG_B, _IMG_B.c.sha256 == _I.c.output_b))


_MINE = (_A.c.batch_id == bindparam("batch_id"), _A.c.annotator == bindparam("annotator"))
_OPEN_MINE = (
    select(_A.c.id.label("assignment_id"), _A.c.a_on_left, *_VIEW_COLUMNS)
    .select_from(_with_images(_A.join(_I, _I.c.id == _A.c.item_id)))
    .where(*_MINE, _A.c.status == "open")
    .order_by(_A.c.shown_at.desc(), _A.c.id.desc())
    .limit(1)
)
_SEEN = select(_A.c.item_id).where(*_MINE)
_FREE_ITEM = (
    select(_I.c.id, *_VIEW_COLUMNS)
    .select_from(_with_images(_I))
    .where(_I.c.batch_id == bindparam("batch_id"), _I.c.active < bindparam("overlap"), _I.c.id.not_in(_SEEN))
    .order_by(_I.c.active, _I.c.position)
    .limit(1)
)
_FREE_ITEM_NOT_HELD = _FREE_ITEM.with_for_update(of=_I, skip_locked=True)
_FREE_ITEM_WAITING = _FREE_ITEM.with_for_update(of=_I)
_FREE_PAIR_ITEM = (_FREE_ITEM.where(_I.c.model_a == bindparam("model_a"), _I.c.model_b == bindparam("model_b"),
                                   GOLD == bindparam("gold")).with_for_update(of=_I, skip_locked=True))
_STALE = (
    select(_A.c.id, _A.c.item_id)
    .where(_A.c.batch_id == bindparam("batch_id"), _A.c.status == "open", _A.c.shown_at < bindparam("cutoff"))
    .limit(200)
    .with_for_update(skip_locked=True)
)


def _count(*where):
    return select(func.count()).where(*where).scalar_subquery()


_VR = _V.alias("retracted_vote")
_IN_BATCH = bindparam("batch_id")
_PROGRESS = select(
    # the annotator's standing votes and skips
    (_count(_V.c.batch_id == _IN_BATCH, _V.c.annotator == bindparam("annotator"))
     - _count(_R.c.batch_id == _IN_BATCH, _R.c.annotator == bindparam("annotator"))).label("done"),
    _count(*_MINE, _A.c.status == "open").label("open_mine"),
    _count(_I.c.batch_id == _IN_BATCH, _I.c.active < bindparam("overlap"), _I.c.id.not_in(_SEEN)).label("free"),
    _count(_I.c.batch_id == _IN_BATCH).label("items"),
    # the batch's standing votes that judged (skips left out)
    (_count(_V.c.batch_id == _IN_BATCH, _V.c.winner != "skip")
     - select(func.count()).select_from(_R.join(_VR, _VR.c.id == _R.c.vote_id))
     .where(_R.c.batch_id == _IN_BATCH, _VR.c.winner != "skip").scalar_subquery()).label("votes"),
)


# ---- step 3: the facts ----------------------------------------------------------------------------

@dataclass(frozen=True)
class _Batch:
    id: str
    name: str
    overlap: int
    criteria: list[str]
    guidelines: str
    status: str
    active_order: bool = False

    @classmethod
    def of(cls, row) -> "_Batch":
        return cls(row.batch_id, row.batch_name, row.overlap, list(row.batch_criteria or ["overall"]),
                   row.guidelines or "", row.batch_status, bool((row.batch_config or {}).get("active_order")))


def _batch(conn: Connection, key: str) -> _Batch:
    key = (key or "").strip()
    rows = conn.execute(_BATCH, {"key": key}).all()
    row = next((r for r in rows if r.batch_id == key), None) or next(iter(rows), None)
    if row is None:
        raise AnnotationError(f"no comparison batch {key!r}")
    return _Batch.of(row)


def _winner(choice: str, a_on_left: bool) -> str:
    if choice == "left":
        return "model_a" if a_on_left else "model_b"
    if choice == "right":
        return "model_b" if a_on_left else "model_a"
    return {"tie": "tie", "tie_bad": "tie (bothbad)", "skip": "skip"}[choice]


def criteria_winners(criteria: list[str], choice: str, extra: Mapping[str, str] | Sequence[str | None],
                     a_on_left: bool) -> dict[str, str]:
    """Winner per criterion (item's side): the button answers the first, ``extra`` the others."""
    if not isinstance(extra, Mapping):
        extra = {crit: val for crit, val in zip(criteria[1:], extra) if val}
    by_criterion = {criteria[0]: _winner(choice, a_on_left)}
    if choice != "skip":
        for crit in criteria[1:]:
            c = extra.get(crit)
            if c not in ("left", "right", "tie", "tie_bad"):
                raise AnnotationError(f"choose A, B or a tie for “{crit.replace('_', ' ')}” too")
            by_criterion[crit] = _winner(c, a_on_left)
    return by_criterion


def _record_vote(conn: Connection, annotator: str, vote: Vote, now: datetime) -> tuple[VoteReceipt, _Batch]:
    """Store the vote on the annotator's assignment (nothing for a resend); returns (receipt, batch)."""
    row = conn.execute(_VOTED_ON, {"assignment_id": (vote.assignment_id or "").strip()}).first()
    if row is None or row.annotator != annotator:
        raise AnnotationError("this item is not assigned to you; reload to get your next item")
    batch = _Batch.of(row)
    left, right = (row.model_a, row.model_b) if row.a_on_left else (row.model_b, row.model_a)
    if row.vote_id is not None:
        if row.status == "retracted":
            raise AnnotationError("you withdrew your vote on this item and it has gone to other annotators; "
                                  "press Start for your next item")
        return VoteReceipt(item_id=row.item_id, winner=row.winner, shown_choice=row.shown_choice, left_model=left,
                           right_model=right, duplicate=True, criteria=dict(row.criteria),
                           had_source=row.source_image is not None), batch
    if row.status not in ("open", "expired"):
        raise AnnotationError("this item is no longer assigned to you; press Start for your next item")
    by_criterion = criteria_winners(batch.criteria, vote.choice, vote.criteria, row.a_on_left)
    winner = by_criterion[batch.criteria[0]]
    shown = row.shown_at if row.shown_at.tzinfo else row.shown_at.replace(tzinfo=now.tzinfo)
    conn.execute(_ADD_VOTE, {
        "id": new_id(), "item_id": row.item_id, "batch_id": batch.id, "assignment_id": row.id,
        "annotator": annotator, "shown_choice": vote.choice, "a_on_left": row.a_on_left, "winner": winner,
        "criteria": by_criterion, "latency_ms": int((now - shown).total_seconds() * 1000), "created_at": now})
    conn.execute(_SET_STATUS, {"assignment_id": row.id, "new_status": "skipped" if vote.choice == "skip" else "voted"})
    if row.status == "open" and vote.choice == "skip":
        conn.execute(_FREE_SLOT, {"item_id": row.item_id})
    elif row.status == "expired" and vote.choice != "skip":
        # the slot was given up while the annotator was still looking: take one back if there is room
        conn.execute(_TAKE_SLOT, {"item_id": row.item_id, "overlap": batch.overlap})
    return VoteReceipt(item_id=row.item_id, winner=winner, shown_choice=vote.choice, left_model=left,
                       right_model=right, criteria=by_criterion, had_source=row.source_image is not None), batch


def _retract(conn: Connection, batch: _Batch, annotator: str, now: datetime) -> str:
    """Withdraw the annotator's latest vote in the batch; returns the note for them."""
    latest = conn.execute(_LATEST_VOTE, {"batch_id": batch.id, "annotator": annotator}).first()
    if latest is None:
        raise AnnotationError("nothing to undo")
    conn.execute(_LOCK_ASSIGNMENT, {"assignment_id": latest.assignment_id})
    conn.execute(_ADD_RETRACTION, {"id": new_id(), "vote_id": latest.id, "batch_id": batch.id, "annotator": annotator,
                              "created_at": now})
    conn.execute(_SET_STATUS, {"assignment_id": latest.assignment_id, "new_status": "retracted"})
    if latest.winner == "skip":  # the skip gave its slot up already
        return "Your skip was withdrawn."
    conn.execute(_FREE_SLOT, {"item_id": latest.item_id})
    return "Your last vote was withdrawn. That item goes to other annotators; you will not see it again."


# ---- step 4: the next item ------------------------------------------------------------------------

def _view(row, batch: _Batch, assignment_id: str, a_on_left: bool) -> ItemView:
    left, right = (row.output_a, row.output_b) if a_on_left else (row.output_b, row.output_a)
    return ItemView(
        assignment_id=assignment_id, batch_id=batch.id, prompt=row.prompt, task=row.task,
        left_image=left, right_image=right, source_image=row.source_image,
        criteria=list(batch.criteria), guidelines=batch.guidelines,
        canvas=(max(row.width_a, row.width_b), max(row.height_a, row.height_b)),
    )


def _resume(conn: Connection, batch: _Batch, annotator: str, now: datetime) -> ItemView | None:
    """The open item the annotator was shown last (after a reload, a resend), marked as shown now."""
    row = conn.execute(_OPEN_MINE, {"batch_id": batch.id, "annotator": annotator}).first()
    if row is None:
        return None
    conn.execute(_SET_SHOWN, {"assignment_id": row.assignment_id, "now": now})
    return _view(row, batch, row.assignment_id, row.a_on_left)


def _claim(conn: Connection, batch: _Batch, annotator: str, now: datetime,
           pair_order: PairOrder | None = None) -> ItemView | None:
    """A slot of the least covered item with room that the annotator has not been shown; in a batch
    with active ordering, of the model pair ``pair_order`` puts first (:mod:`.active_order`).

    On PostgreSQL the item row is locked: first skipping rows other transactions hold (so concurrent
    annotators spread over the free items instead of queueing for the first), then, only when that
    finds none, waiting for them (one of them may still have room after its holder commits).
    """
    params = {"batch_id": batch.id, "annotator": annotator, "overlap": batch.overlap}
    row = None
    if batch.active_order and pair_order is not None:
        pair = choose_pair(conn, batch.id, annotator, batch.overlap, pair_order)
        if pair is not None:
            model_a, model_b, gold = pair
            row = conn.execute(_FREE_PAIR_ITEM, {**params, "model_a": model_a, "model_b": model_b, "gold": gold}).first()
    if row is None:
        row = conn.execute(_FREE_ITEM_NOT_HELD, params).first()
    if row is None and conn.dialect.name == "postgresql":
        row = conn.execute(_FREE_ITEM_WAITING, params).first()
    if row is None:
        return None
    if conn.execute(_TAKE_SLOT, {"item_id": row.id, "overlap": batch.overlap}).rowcount != 1:
        raise _Collision()  # not with the row locked; should it happen, the transaction runs again
    assignment_id, a_on_left = new_id(), _rng.random() < 0.5
    conn.execute(_ADD_ASSIGNMENT, {"id": assignment_id, "item_id": row.id, "batch_id": batch.id, "annotator": annotator,
                              "a_on_left": a_on_left, "status": "open", "created_at": now, "shown_at": now})
    return _view(row, batch, assignment_id, a_on_left)


def _expire_stale(conn: Connection, batch: _Batch, cutoff: datetime) -> int:
    """Free the slots of assignments shown before ``cutoff`` and still unanswered; returns how many."""
    stale = conn.execute(_STALE, {"batch_id": batch.id, "cutoff": cutoff}).all()
    for assignment_id, item_id in stale:
        conn.execute(_SET_STATUS, {"assignment_id": assignment_id, "new_status": "expired"})
        conn.execute(_FREE_SLOT, {"item_id": item_id})
    return len(stale)


# ---- step 5: progress -----------------------------------------------------------------------------

def _progress(conn: Connection, batch: _Batch, annotator: str) -> Progress:
    """Votes (and skips) by this annotator that stand, items still open to them, the batch's coverage."""
    row = conn.execute(_PROGRESS, {"batch_id": batch.id, "annotator": annotator, "overlap": batch.overlap}).one()
    return Progress(done=row.done, available=row.done + row.open_mine + row.free, batch_votes=row.votes,
                    batch_target=row.items * batch.overlap)
