"""Rankings over many models: Bradley–Terry (bootstrap and sandwich intervals, interval-respecting
ranks) and online Elo.

Bradley–Terry is fitted by Newton's method on battles aggregated per model pair; a tie (either kind)
counts as half a win for each side, as the public arenas do. A tiny ridge penalty keeps the fit
finite when a model never lost and makes the strengths sum to zero. Ratings use the arenas' scale:
``400 * beta / ln(10) + 1000`` (a 400-point gap means 10:1 odds).

Two 95% intervals: the percentile bootstrap over battles, and the closed-form sandwich (robust)
covariance ``H⁻¹ G H⁻¹`` of the MLE, where H is the information matrix and G the summed outer
products of per-battle scores — it stays honest when the model is misspecified (annotators who
disagree, ties) and costs one matrix solve instead of a thousand refits. With ``reweight`` each
battle counts ``1 / max(n_pair, min_pair_count)`` so pairs shown far more often than others do not
dominate the fit (inverse-propensity weights, as LMArena's open ranking code does).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from studio.annotation.battles import A_WINS, B_WINS, Battles

SCALE = 400.0 / math.log(10.0)
BASE = 1000.0
RIDGE = 1e-6
Z95 = 1.959963984540054
#: a model with fewer battles than this is shown as provisional
PROVISIONAL_BELOW = 30
#: pairs met fewer times than this are not up-weighted further by ``reweight``
MIN_PAIR_COUNT = 50
CI_METHODS = ("sandwich", "bootstrap")


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


def pair_weights(cells: PairCells, min_pair_count: int = MIN_PAIR_COUNT) -> np.ndarray:
    """Per-cell battle weight ``1 / max(battles of that unordered pair, min_pair_count)``."""
    lo, hi = np.minimum(cells.i, cells.j), np.maximum(cells.i, cells.j)
    key = lo * (int(max(cells.i.max(initial=0), cells.j.max(initial=0))) + 1) + hi
    _, inverse = np.unique(key, return_inverse=True)
    per_pair = np.bincount(inverse, cells.count)
    return 1.0 / np.maximum(per_pair[inverse], float(min_pair_count))


def fit_bradley_terry(n_models: int, cells: PairCells, counts: np.ndarray | None = None,
                      ridge: float = RIDGE, max_iter: int = 100, init: np.ndarray | None = None) -> np.ndarray:
    """Strengths beta (natural-log odds units, summing to ~0) maximizing the penalized likelihood.

    ``counts`` replaces the cells' battle counts (a bootstrap draw, or counts times reweighting
    weights); ``ridge`` is the precision of a zero-mean Gaussian prior (the MAP of a Laplace posterior).
    """
    n = cells.count if counts is None else counts
    wins = n * cells.score  # i's share of wins in each cell
    flat = cells.i * n_models + cells.j
    diag = np.diag_indices(n_models)
    beta = np.zeros(n_models) if init is None else np.array(init, dtype=float)
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


def _pair_matrix(n_models: int, cells: PairCells, v: np.ndarray) -> np.ndarray:
    """Σ_c v_c (e_i − e_j)(e_i − e_j)ᵀ over cells."""
    off = np.bincount(cells.i * n_models + cells.j, v, n_models * n_models).reshape(n_models, n_models)
    off = off + off.T
    out = -off
    out[np.diag_indices(n_models)] = off.sum(axis=1)
    return out


def sandwich_covariance(n_models: int, cells: PairCells, beta: np.ndarray,
                        weights: np.ndarray | None = None) -> np.ndarray:
    """Robust covariance ``H⁺ G H⁺`` of the strengths (natural-log units, sum-to-zero gauge).

    H is the weighted information, G = Σ over battles of (weight·(score − p))² (e_i − e_j)(e_i − e_j)ᵀ.
    Both are blind to a shift of every strength, so the pseudo-inverse gives the covariance of the
    strengths constrained to sum to zero.
    """
    w = np.ones_like(cells.count) if weights is None else weights
    p = 0.5 * (1.0 + np.tanh(0.5 * (beta[cells.i] - beta[cells.j])))
    hessian = _pair_matrix(n_models, cells, cells.count * w * p * (1.0 - p))
    meat = _pair_matrix(n_models, cells, cells.count * (w * (cells.score - p)) ** 2)
    h_inv = np.linalg.pinv(hessian, hermitian=True)
    return h_inv @ meat @ h_inv


def identified(n_models: int, cells: PairCells) -> np.ndarray:
    """Models whose strength the data pin down: the largest strongly connected set of "took points
    from" (a win or a tie counts, both ways for a tie). A model outside it (never lost, never won, or
    a group that beat everyone else) has no finite maximum-likelihood strength, so no interval."""
    took = np.zeros((n_models, n_models), dtype=bool)
    took[cells.i[cells.score > 0], cells.j[cells.score > 0]] = True
    took[cells.j[cells.score < 1], cells.i[cells.score < 1]] = True
    reach = took | np.eye(n_models, dtype=bool)
    for _ in range(max(1, int(np.ceil(np.log2(max(n_models, 2)))))):
        reach = reach | ((reach.astype(np.int64) @ reach.astype(np.int64)) > 0)
    same = reach & reach.T
    sizes = same.sum(axis=1)
    return same[int(np.argmax(sizes))]


def interval_ranks(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Rank = 1 + the number of models whose lower bound lies above this model's upper bound."""
    return 1 + (lower[None, :] > upper[:, None]).sum(axis=1)


def to_rating(beta: np.ndarray) -> np.ndarray:
    """Arena scale: 400·beta/ln(10) + 1000."""
    return SCALE * beta + BASE


def _bound(x: float) -> float | None:
    """A rounded interval end; None when unbounded (a strength the data cannot pin down)."""
    return round(float(x), 2) if math.isfinite(x) else None


@dataclass
class Leaderboard:
    """Per model: point rating, both intervals, interval rank and battle count (rows best first).

    ``lower``/``upper`` are the bootstrap interval (the point when no bootstrap ran); ``ci_lower``/
    ``ci_upper`` the interval named by ``ci_method``, which the rank respects.
    """

    models: list[str]
    rating: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    battles: np.ndarray
    bootstrap: int
    ci_lower: np.ndarray | None = None
    ci_upper: np.ndarray | None = None
    ci_method: str = "bootstrap"
    min_battles: int = PROVISIONAL_BELOW

    def rows(self) -> list[dict]:
        ci_lo = self.lower if self.ci_lower is None else self.ci_lower
        ci_hi = self.upper if self.ci_upper is None else self.ci_upper
        rank = interval_ranks(ci_lo, ci_hi)
        order = sorted(range(len(self.models)), key=lambda k: (-self.rating[k], self.models[k]))
        return [
            {"model": self.models[k], "rating": round(float(self.rating[k]), 2),
             "lower": round(float(self.lower[k]), 2), "upper": round(float(self.upper[k]), 2),
             "battles": int(self.battles[k]), "ci_lower": _bound(ci_lo[k]), "ci_upper": _bound(ci_hi[k]),
             "rank": int(rank[k]),
             "provisional": bool(self.battles[k] < self.min_battles)}
            for k in order
        ]


def bradley_terry(battles: Battles, *, bootstrap: int = 1000, seed: int = 0, ci: float = 0.95,
                  ci_method: str = "bootstrap", reweight: bool = False,
                  min_battles: int = PROVISIONAL_BELOW) -> Leaderboard:
    """Ratings with percentile bootstrap intervals (battles resampled with replacement) and, with
    ``ci_method="sandwich"``, the closed-form robust interval used for ``ci_lower``/``ci_upper``/rank."""
    if ci_method not in CI_METHODS:
        raise ValueError(f"interval method is one of {', '.join(CI_METHODS)}, not {ci_method!r}")
    if not 0.0 < ci < 1.0:
        raise ValueError(f"interval level must lie between 0 and 1, got {ci}")
    m = len(battles.models)
    cells = pair_cells(battles)
    weights = pair_weights(cells) if reweight and len(battles) else np.ones_like(cells.count)
    beta = fit_bradley_terry(m, cells, cells.count * weights) if len(battles) else np.zeros(m)
    point = to_rating(beta)
    counts = np.bincount(battles.a, minlength=m) + np.bincount(battles.b, minlength=m)
    board = Leaderboard(list(battles.models), point, point.copy(), point.copy(), counts, 0,
                        ci_method=ci_method, min_battles=min_battles)
    if len(battles) == 0:
        return board
    if ci_method == "sandwich":
        from statistics import NormalDist

        z = NormalDist().inv_cdf(0.5 + ci / 2.0)
        sd = np.sqrt(np.clip(np.diag(sandwich_covariance(m, cells, beta, weights)), 0.0, None))
        sd[~identified(m, cells)] = np.inf
        board.ci_lower, board.ci_upper = to_rating(beta - z * sd), to_rating(beta + z * sd)
    if bootstrap > 0:
        rng = np.random.default_rng(seed)
        total = int(cells.count.sum())
        probs = cells.count / total
        samples = np.empty((bootstrap, m))
        for r in range(bootstrap):
            resampled = rng.multinomial(total, probs).astype(float)
            samples[r] = to_rating(fit_bradley_terry(m, cells, resampled * weights))
        alpha = (1.0 - ci) / 2.0
        board.lower = np.quantile(samples, alpha, axis=0)
        board.upper = np.quantile(samples, 1.0 - alpha, axis=0)
        board.bootstrap = bootstrap
    return board


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
