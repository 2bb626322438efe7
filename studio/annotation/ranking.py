"""Rankings over many models: Bradley–Terry (with bootstrap intervals) and online Elo.

Bradley–Terry is fitted by Newton's method on battles aggregated per model pair; a tie (either kind)
counts as half a win for each side, as the public arenas do. A tiny ridge penalty keeps the fit
finite when a model never lost and makes the strengths sum to zero. Ratings use the arenas' scale:
``400 * beta / ln(10) + 1000`` (a 400-point gap means 10:1 odds).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from studio.annotation.battles import A_WINS, B_WINS, Battles

SCALE = 400.0 / math.log(10.0)
BASE = 1000.0
RIDGE = 1e-6


@dataclass
class PairCells:
    """Battles collapsed to (i, j, outcome) cells with counts — what a bootstrap resamples."""

    i: np.ndarray
    j: np.ndarray
    score: np.ndarray  # 1, 0.5 or 0: the share of a win model i gets in that cell
    count: np.ndarray


def pair_cells(battles: Battles) -> PairCells:
    """Aggregate battles into unique (model_a, model_b, score) cells."""
    score = np.where(battles.outcome == A_WINS, 2, np.where(battles.outcome == B_WINS, 0, 1))
    key = (battles.a * len(battles.models) + battles.b) * 3 + score
    uniq, count = np.unique(key, return_counts=True)
    pair, s = np.divmod(uniq, 3)
    i, j = np.divmod(pair, len(battles.models))
    return PairCells(i=i, j=j, score=s / 2.0, count=count.astype(float))


def fit_bradley_terry(n_models: int, cells: PairCells, counts: np.ndarray | None = None,
                      ridge: float = RIDGE, max_iter: int = 100) -> np.ndarray:
    """Strengths beta (natural-log odds units, summing to ~0) maximizing the penalized likelihood."""
    n = cells.count if counts is None else counts
    wins = n * cells.score  # i's share of wins in each cell
    flat = cells.i * n_models + cells.j
    diag = np.diag_indices(n_models)
    beta = np.zeros(n_models)
    for _ in range(max_iter):
        d = beta[cells.i] - beta[cells.j]
        p = 0.5 * (1.0 + np.tanh(0.5 * d))
        g_cell = wins - n * p
        grad = np.bincount(cells.i, g_cell, n_models) - np.bincount(cells.j, g_cell, n_models) - ridge * beta
        w = n * p * (1.0 - p)
        # information matrix (negative Hessian): off-diagonal -w for both orders, diagonal the row sums
        off = np.bincount(flat, w, n_models * n_models).reshape(n_models, n_models)
        off = off + off.T
        info = -off
        info[diag] = off.sum(axis=1) + ridge
        step = np.linalg.solve(info, grad)
        step -= step.mean()  # the optimum sums to zero; rounding along the flat direction only adds noise
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    return beta


def to_rating(beta: np.ndarray) -> np.ndarray:
    """Arena scale: 400·beta/ln(10) + 1000."""
    return SCALE * beta + BASE


@dataclass
class Leaderboard:
    """Per model: point rating, bootstrap interval and battle count (sorted best first)."""

    models: list[str]
    rating: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    battles: np.ndarray
    bootstrap: int

    def rows(self) -> list[dict]:
        order = sorted(range(len(self.models)), key=lambda k: (-self.rating[k], self.models[k]))
        return [
            {"model": self.models[k], "rating": round(float(self.rating[k]), 2),
             "lower": round(float(self.lower[k]), 2), "upper": round(float(self.upper[k]), 2),
             "battles": int(self.battles[k])}
            for k in order
        ]


def bradley_terry(battles: Battles, *, bootstrap: int = 1000, seed: int = 0, ci: float = 0.95) -> Leaderboard:
    """Ratings with percentile bootstrap intervals (battles resampled with replacement)."""
    m = len(battles.models)
    cells = pair_cells(battles)
    point = to_rating(fit_bradley_terry(m, cells))
    counts = np.bincount(battles.a, minlength=m) + np.bincount(battles.b, minlength=m)
    if bootstrap <= 0 or len(battles) == 0:
        return Leaderboard(list(battles.models), point, point.copy(), point.copy(), counts, 0)
    rng = np.random.default_rng(seed)
    total = int(cells.count.sum())
    probs = cells.count / total
    samples = np.empty((bootstrap, m))
    for r in range(bootstrap):
        resampled = rng.multinomial(total, probs).astype(float)
        samples[r] = to_rating(fit_bradley_terry(m, cells, resampled))
    alpha = (1.0 - ci) / 2.0
    lower = np.quantile(samples, alpha, axis=0)
    upper = np.quantile(samples, 1.0 - alpha, axis=0)
    return Leaderboard(list(battles.models), point, lower, upper, counts, bootstrap)


def online_elo(battles: Battles, *, k: float = 4.0, scale: float = 400.0, base: float = 10.0,
               init: float = 1000.0) -> dict[str, float]:
    """Sequential Elo in battle order (by timestamp when every battle has one)."""
    order = np.arange(len(battles))
    if len(battles) and not np.isnan(battles.tstamp).any():
        order = np.argsort(battles.tstamp, kind="stable")
    rating = np.full(len(battles.models), init)
    a, b, out = battles.a, battles.b, battles.outcome
    for t in order:
        i, j = a[t], b[t]
        expected = 1.0 / (1.0 + base ** ((rating[j] - rating[i]) / scale))
        score = 1.0 if out[t] == A_WINS else 0.0 if out[t] == B_WINS else 0.5
        rating[i] += k * (score - expected)
        rating[j] -= k * (score - expected)
    return {name: float(rating[n]) for n, name in enumerate(battles.models)}


def pairwise_matrices(battles: Battles) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(models, win fraction of row over column among non-tied battles (NaN if none), battle counts)."""
    m = len(battles.models)
    wins = np.zeros((m, m))
    np.add.at(wins, (battles.a[battles.outcome == A_WINS], battles.b[battles.outcome == A_WINS]), 1)
    np.add.at(wins, (battles.b[battles.outcome == B_WINS], battles.a[battles.outcome == B_WINS]), 1)
    counts = np.zeros((m, m))
    np.add.at(counts, (battles.a, battles.b), 1)
    counts = counts + counts.T
    decisive = wins + wins.T
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(decisive > 0, wins / decisive, np.nan)
    return list(battles.models), frac, counts
