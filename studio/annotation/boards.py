"""The leaderboard JSON: one derivation from battles that the CLI prints and the Results page shows.

``leaderboard_json`` returns::

    {"models": [{"model", "rating", "lower", "upper", "battles",          # bootstrap interval
                 "ci_lower", "ci_upper", "rank", "provisional"}, ...],     # interval of ``ci.method``
     "pairs": [{"model_a", "model_b", "wins", "ties", "losses", "win_ratio", "tie_ratio", "loss_ratio"}],
     "ci": {"method", "level", "bootstrap", "reweighted", "provisional_below"},
     "matrices": {"models", "win_fraction", "battle_counts"},
     "boards": {"task": {name: board}, "taxonomy": {node: board}}}

where a board is ``{"votes": n, "models": [...same rows...]}`` over the battles of that task or
taxonomy subtree (a node at ``depth`` path parts). ``rank`` is 1 + the number of models whose lower
bound lies above this model's upper bound, so models whose intervals overlap share a rank.
For the studio's own votes :func:`studio.annotation.results.studio_leaderboard` adds ``"criteria"``
(one board per criterion, with per-task boards), ``"annotators"`` (gold accuracy, competence, very
fast votes) and ``"selection"`` (batch, criterion, annotator, excluded annotators, votes used).
"""
from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

from studio.annotation import AnnotationError
from studio.annotation.battles import Battles
from studio.annotation.ranking import CI_METHODS, PROVISIONAL_BELOW, bradley_terry, pairwise_matrices
from studio.annotation.stats import all_pairs, taxonomy_group

MAX_BOOTSTRAP = 5000


def check_options(ci: str, bootstrap: int, min_battles: int, depth: int) -> None:
    """Raise :class:`AnnotationError` with what to change when an option is out of range."""
    if ci not in CI_METHODS:
        raise AnnotationError(f"interval method is one of {', '.join(CI_METHODS)}, not {ci!r}")
    if not 0 <= bootstrap <= MAX_BOOTSTRAP:
        raise AnnotationError(f"bootstrap rounds must be between 0 and {MAX_BOOTSTRAP}, got {bootstrap}")
    if ci == "bootstrap" and bootstrap < 1:
        raise AnnotationError("bootstrap intervals need at least 1 bootstrap round (try 1000)")
    if min_battles < 0:
        raise AnnotationError(f"the provisional threshold is a battle count of 0 or more, got {min_battles}")
    if not 1 <= depth <= 10:
        raise AnnotationError(f"taxonomy depth must be between 1 and 10, got {depth}")


def select_judges(battles: Battles, *, only: str | None = None, exclude: Iterable[str] = ()) -> Battles:
    """The battles of one annotator (a personal board) and/or without the excluded annotators."""
    excluded = {e for e in exclude if e}
    if not only and not excluded:
        return battles
    judges = np.asarray(battles.judge if battles.judge else [""] * len(battles), dtype=object)
    keep = ~np.isin(judges, list(excluded)) if excluded else np.ones(len(battles), dtype=bool)
    if only:
        keep &= judges == only
    return battles.subset(keep)


def _models(battles: Battles, ci: str, bootstrap: int, seed: int, reweight: bool, min_battles: int) -> list[dict]:
    board = bradley_terry(battles, bootstrap=bootstrap, seed=seed, ci_method=ci, reweight=reweight,
                          min_battles=min_battles)
    return [r for r in board.rows() if r["battles"] > 0]


def _grouped(battles: Battles, labels: list[str], **opts) -> dict[str, dict]:
    out = {}
    for label in sorted(set(labels)):
        mask = np.fromiter((lab == label for lab in labels), dtype=bool, count=len(labels))
        sub = battles.subset(mask)
        out[label] = {"votes": len(sub), "models": _models(sub, **opts)}
    return out


def leaderboard_json(battles: Battles, *, ci: str = "sandwich", bootstrap: int = 1000, seed: int = 0,
                     reweight: bool = False, min_battles: int = PROVISIONAL_BELOW, depth: int = 2,
                     boards: bool = True) -> dict[str, Any]:
    """The leaderboard of ``battles`` (see the module docstring for the shape).

    1. Check the options. 2. Fit Bradley–Terry on all battles with both intervals and rank by the
    chosen one. 3. Per pair win/tie/loss, oriented best-rated first. 4. Win-fraction and battle-count
    matrices in rating order. 5. With ``boards``, the same rows per task and per taxonomy node (node
    boards get bootstrap rounds only when the bootstrap interval is the one asked for).
    """
    check_options(ci, bootstrap, min_battles, depth)
    models = _models(battles, ci, bootstrap, seed, reweight, min_battles)
    order = [m["model"] for m in models]
    pairs = []
    for p in all_pairs(battles, order):
        pairs.append({"model_a": p.model, "model_b": p.opponent, "wins": p.wins, "ties": p.ties,
                      "losses": p.losses, "win_ratio": round(p.ratio("wins"), 4),
                      "tie_ratio": round(p.ratio("ties"), 4), "loss_ratio": round(p.ratio("losses"), 4)})
    names, frac, counts = pairwise_matrices(battles)
    idx = [names.index(m) for m in order]
    out: dict[str, Any] = {
        "models": models, "pairs": pairs,
        "ci": {"method": ci, "level": 0.95, "bootstrap": bootstrap if len(battles) else 0,
               "reweighted": reweight, "provisional_below": min_battles},
        "matrices": {
            "models": order,
            "win_fraction": [[None if math.isnan(frac[i, j]) else round(float(frac[i, j]), 4) for j in idx]
                             for i in idx],
            "battle_counts": [[int(counts[i, j]) for j in idx] for i in idx],
        },
    }
    if boards:
        node_opts = dict(ci=ci, bootstrap=bootstrap if ci == "bootstrap" else 0, seed=seed, reweight=reweight,
                         min_battles=min_battles)
        tasks = [t or "unknown" for t in battles.task] if battles.task else []
        nodes = [taxonomy_group(depth)(t) for t in battles.taxonomy] if battles.taxonomy else []
        out["boards"] = {"task": _grouped(battles, tasks, **node_opts) if tasks else {},
                         "taxonomy": _grouped(battles, nodes, **node_opts) if nodes else {}}
    return out
