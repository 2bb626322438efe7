"""Active order for a comparison batch: which model pair's items are worth offering next, from
counts derived from the batch's vote facts. The vote path calls :func:`batch_pair_order` and offers
a free item of the first pair that has one (the order changes only as votes arrive, so it may be
cached for a few votes)."""
from __future__ import annotations

import numpy as np

from studio.annotation.battles import A_WINS, B_WINS, Battles
from studio.annotation.results import battles_from_records, vote_records
from studio.annotation.service import batch_items
from studio.arena.matchmaking import ranked_pairs


def derived_counts(battles: Battles, models: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(score, battles) matrices in the order of ``models``: points i took from j (ties ½ each) and
    battles between them; models without votes get zero rows."""
    idx = {m: k for k, m in enumerate(models)}
    m = len(models)
    score, n = np.zeros((m, m)), np.zeros((m, m))
    for a, b, out in zip(battles.a.tolist(), battles.b.tolist(), battles.outcome.tolist()):
        i, j = idx[battles.models[a]], idx[battles.models[b]]
        pa = 1.0 if out == A_WINS else 0.0 if out == B_WINS else 0.5
        score[i, j] += pa
        score[j, i] += 1.0 - pa
        n[i, j] += 1
        n[j, i] += 1
    return score, n


def batch_pair_order(studio, batch: str, *, seed: int | None = None) -> list[tuple[str, str]]:
    """The batch's model pairs, most worth a vote first.

    1. Models: every model named by an ordinary (non-gold) item of the batch, voted or not.
    2. Counts from the batch's vote facts (gold items and skips left out). 3. :func:`ranked_pairs`.
    Pairs with no items in the batch are dropped.
    """
    items = [it for it in batch_items(studio, batch) if not (it["provenance"] or {}).get("gold")]
    offered = {frozenset((it["model_a"], it["model_b"])) for it in items if it["model_a"] != it["model_b"]}
    models = sorted({m for pair in offered for m in pair})
    if len(models) < 2:
        return []
    score, n = derived_counts(battles_from_records(vote_records(studio, batch)), models)
    return [p for p in ranked_pairs(models, score, n, seed=seed) if frozenset(p) in offered]
