"""The next model pair of a batch created with active ordering (``config["active_order"]``).

A fixed batch normally offers its items in stored order. With active ordering, each time an
annotator needs an item, the batch's live vote facts (standing votes, skips and gold items left out)
and the votes being cast now (open assignments) are counted per model pair and handed to the
studio's pair order (:class:`studio.annotation.hooks.AnnotationHooks`; the arena's matchmaking); the
annotator gets a free item of the first pair in that order that still has one for them.

Gold items (``provenance["gold"]`` names the output that must win) rank no model; they are offered
so that each annotator meets them at the batch's gold share, spread through their work.
Everything runs on the vote transaction's connection, so it sees what that transaction sees.
"""
from __future__ import annotations

import numpy as np
from sqlalchemy import and_, bindparam, case, exists, func, select
from sqlalchemy.engine import Connection

from studio.annotation.hooks import PairOrder
from studio.annotation.models import Assignment, ComparisonItem, PairwiseVote, Retraction

_A, _I, _V, _R = Assignment.__table__, ComparisonItem.__table__, PairwiseVote.__table__, Retraction.__table__
#: 1 for a gold item, 0 for an ordinary one
GOLD = case((_I.c.provenance["gold"].as_string().in_(("model_a", "model_b")), 1), else_=0)
_SEEN = select(_A.c.item_id).where(_A.c.batch_id == bindparam("batch_id"), _A.c.annotator == bindparam("annotator"))

_OPEN_TO_ME = and_(_I.c.active < bindparam("overlap"), _I.c.id.not_in(_SEEN))
# every (model_a, model_b) orientation of the batch: its items, gold items, and how many of its
# ordinary and gold items this annotator may still take
_PAIRS = (
    select(_I.c.model_a, _I.c.model_b, func.count().label("items"), func.sum(GOLD).label("gold_items"),
           func.sum(case((and_(_OPEN_TO_ME, GOLD == 0), 1), else_=0)).label("free"),
           func.sum(case((and_(_OPEN_TO_ME, GOLD == 1), 1), else_=0)).label("gold_free"))
    .where(_I.c.batch_id == bindparam("batch_id"))
    .group_by(_I.c.model_a, _I.c.model_b)
)
_VOTES = (
    select(_I.c.model_a, _I.c.model_b, _V.c.winner, func.count().label("n"))
    .select_from(_V.join(_I, _I.c.id == _V.c.item_id))
    .where(_V.c.batch_id == bindparam("batch_id"), _V.c.winner != "skip", GOLD == 0, _I.c.model_a != _I.c.model_b,
           ~exists().where(_R.c.vote_id == _V.c.id))
    .group_by(_I.c.model_a, _I.c.model_b, _V.c.winner)
)
_PENDING = (
    select(_I.c.model_a, _I.c.model_b, func.count().label("n"))
    .select_from(_A.join(_I, _I.c.id == _A.c.item_id))
    .where(_A.c.batch_id == bindparam("batch_id"), _A.c.status == "open", GOLD == 0,
           _I.c.model_a != _I.c.model_b)
    .group_by(_I.c.model_a, _I.c.model_b)
)
_MINE = (
    select(func.count().label("shown"), func.sum(GOLD).label("gold"))
    .select_from(_A.join(_I, _I.c.id == _A.c.item_id))
    .where(_A.c.batch_id == bindparam("batch_id"), _A.c.annotator == bindparam("annotator"))
)
_POINTS_A = {"model_a": 1.0, "model_b": 0.0}  # any other judged outcome is a tie: ½ each


def choose_pair(conn: Connection, batch_id: str, annotator: str, overlap: int,
                pair_order: PairOrder) -> tuple[str, str, int] | None:
    """(model_a, model_b, gold) of the items to offer ``annotator`` next (gold 1 for a gold item), or
    None for the stored order.

    1. Count the batch's pairs and the items each still has for this annotator. 2. A gold item when
    the annotator's share of gold is behind the batch's and one is free. 3. Otherwise count the live
    votes and open assignments per model pair and take the first pair in ``pair_order`` that has a
    free item (of its two orientations, the one with more free items).
    """
    params = {"batch_id": batch_id, "annotator": annotator, "overlap": overlap}
    pairs = conn.execute(_PAIRS, params).all()
    gold_free = [(r.model_a, r.model_b, 1) for r in pairs if r.gold_free]
    free = {(r.model_a, r.model_b): int(r.free) for r in pairs if r.free and r.model_a != r.model_b}
    if gold_free:
        mine = conn.execute(_MINE, params).one()
        share = sum(r.gold_items for r in pairs) / sum(r.items for r in pairs)
        if (mine.gold or 0) < share * ((mine.shown or 0) + 1) - 0.5:
            return gold_free[0]
    if not free:
        return None
    ranked = [r for r in pairs if r.items > r.gold_items and r.model_a != r.model_b]
    models = sorted({m for r in ranked for m in (r.model_a, r.model_b)})
    if len(models) < 2:
        return None
    idx = {m: k for k, m in enumerate(models)}
    size = len(models)
    score, battles, pending = np.zeros((size, size)), np.zeros((size, size)), np.zeros((size, size))
    for r in conn.execute(_VOTES, params):
        i, j = idx[r.model_a], idx[r.model_b]
        points = _POINTS_A.get(r.winner, 0.5) * r.n
        score[i, j] += points
        score[j, i] += r.n - points
        battles[i, j] += r.n
        battles[j, i] += r.n
    for r in conn.execute(_PENDING, params):
        i, j = idx[r.model_a], idx[r.model_b]
        pending[i, j] += r.n
        pending[j, i] += r.n
    for x, y in pair_order(models, score, battles, pending):
        options = [p for p in ((x, y), (y, x)) if free.get(p)]
        if options:
            return (*max(options, key=lambda p: free[p]), 0)
    return None
