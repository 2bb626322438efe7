"""Which pair to show next: the one whose vote is expected to settle most of the ranking.

The votes so far give a Laplace (Gaussian) posterior over Bradley–Terry strengths: the MAP under a
N(0, PRIOR_SD²) prior and covariance (information + prior precision)⁻¹. A ranking is settled pair
by pair along neighbours: once every pair adjacent in the ranking is in the right order, so is the
whole ranking, and pairs far apart are rarely in doubt. So the candidates are the pairs adjacent in
the current ranking (by posterior mean), and a pair's gain is Φ(−|Δμ|/√Var), the probability that
its order is still wrong, times the share of Var(βᵢ − βⱼ) one vote on it removes,
c·Var / (1 + c·Var) with c = p(1−p) its predicted Fisher information. Votes therefore go where an
order is in doubt and a comparison can still move it, and stop going to a pair once its order is
clear. The other pairs follow in the same order of gain (a batch offers them when its adjacent
pairs have no free items). A new model (a fresh adapter) has no battles and is brought up first by a
floor that also keeps every model in play; votes being cast (``Posterior.pending``) shrink the
variance they will shrink, so concurrent annotators spread over the doubtful pairs.

``next_pair(models, score, battles)`` picks one pair from counts derived from the vote facts;
``ranked_pairs`` orders them all, which is what a fixed batch with active ordering uses (through
``Studio.annotation_hooks``); ``Posterior`` and ``choose`` serve the simulation.
"""
from __future__ import annotations

from dataclasses import dataclass
import numpy as np

from studio.annotation.ranking import PairCells, fit_bradley_terry

#: prior standard deviation of a strength (natural-log odds units)
PRIOR_SD = 1.5
#: a model whose battles fall below FLOOR × the average per model is paired next
FLOOR = 0.1
POLICIES = ("active", "uniform")


def _cells(score: np.ndarray, battles: np.ndarray) -> PairCells:
    i, j = np.nonzero(np.triu(battles, 1))
    n = battles[i, j].astype(float)
    return PairCells(i=i, j=j, score=score[i, j] / n, count=n)


@dataclass
class Posterior:
    """Gaussian approximation to the strengths given the votes so far."""

    mean: np.ndarray
    cov: np.ndarray

    @classmethod
    def fit(cls, score: np.ndarray, battles: np.ndarray, init: np.ndarray | None = None) -> "Posterior":
        """From ``score[i, j]`` (points i took from j: 1 a win, ½ a tie) and symmetric ``battles[i, j]``."""
        m = battles.shape[0]
        cells = _cells(score, battles)
        ridge = 1.0 / PRIOR_SD ** 2
        mean = fit_bradley_terry(m, cells, ridge=ridge, init=init) if len(cells.count) else np.zeros(m)
        d = mean[cells.i] - mean[cells.j]
        w = cells.count * 0.25 / np.cosh(0.5 * d) ** 2  # n·p(1−p)
        info = np.zeros((m, m))
        np.add.at(info, (cells.i, cells.j), -w)
        info = info + info.T
        info[np.diag_indices(m)] = -info.sum(axis=1) + ridge
        return cls(mean, np.linalg.inv(info))

    def pending(self, i: int, j: int) -> None:
        """Account for a vote on (i, j) whose outcome is not in yet: shrink the covariance (rank one)."""
        x = np.zeros(len(self.mean))
        x[i], x[j] = 1.0, -1.0
        d = self.mean[i] - self.mean[j]
        c = 0.25 / np.cosh(0.5 * d) ** 2
        sx = self.cov @ x
        self.cov = self.cov - np.outer(sx, sx) * (c / (1.0 + c * x @ sx))

    def gains(self) -> np.ndarray:
        """Gain of one vote on each pair, adjacent pairs of the current ranking above all others
        (upper triangle; the rest zero)."""
        from scipy.special import ndtr  # loaded with the first pairing: the page need not wait for scipy

        m = len(self.mean)
        iu, ju = np.triu_indices(m, 1)
        var = np.maximum(self.cov[iu, iu] + self.cov[ju, ju] - 2.0 * self.cov[iu, ju], 1e-12)
        delta = self.mean[iu] - self.mean[ju]
        fisher = 0.25 / np.cosh(0.5 * delta) ** 2
        gain = ndtr(-np.abs(delta) / np.sqrt(var)) * fisher * var / (1.0 + fisher * var)
        rank = np.empty(m, dtype=int)
        rank[np.argsort(self.mean, kind="stable")] = np.arange(m)
        adjacent = np.abs(rank[iu] - rank[ju]) == 1
        out = np.zeros((m, m))
        out[iu, ju] = np.where(adjacent, gain + gain.max() + 1.0, gain)
        return out


def _priority(posterior: Posterior, battles: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gains with the floor applied (only pairs with a model below it count while any is), ties broken
    at random; upper triangle."""
    m = battles.shape[0]
    gains = posterior.gains()
    per_model = battles.sum(axis=1)
    behind = per_model < FLOOR * per_model.mean()
    if behind.any():
        allowed = behind[:, None] | behind[None, :]
        gains = np.where(allowed, gains + gains.max() + 1.0, gains)
    return np.triu(gains, 1) + np.triu(rng.random((m, m)) * 1e-12, 1)


def choose(posterior: Posterior | None, battles: np.ndarray, policy: str, rng: np.random.Generator) -> tuple[int, int]:
    """One pair (i < j) by ``policy``: "uniform" draws any pair; "active" takes the largest gain
    among pairs involving a model below the floor, if any, else among all pairs."""
    m = battles.shape[0]
    if policy == "uniform" or posterior is None:
        i, j = sorted(rng.choice(m, 2, replace=False).tolist())
        return i, j
    i, j = np.unravel_index(int(np.argmax(_priority(posterior, battles, rng))), (m, m))
    return int(min(i, j)), int(max(i, j))


def _checked(models: list[str], score, battles, policy: str) -> tuple[np.ndarray, np.ndarray]:
    if policy not in POLICIES:
        raise ValueError(f"matchmaking policy is one of {', '.join(POLICIES)}, not {policy!r}")
    m = len(models)
    if m < 2:
        raise ValueError("an arena needs at least two models to pair; add another backend")
    score, battles = np.asarray(score, dtype=float), np.asarray(battles, dtype=float)
    if score.shape != (m, m) or battles.shape != (m, m):
        raise ValueError(f"score and battles must be {m}×{m} matrices in the order of models")
    if (battles < 0).any() or not np.allclose(battles, battles.T) or (score < 0).any() \
            or not np.allclose(score + score.T, battles):
        raise ValueError("battles must be symmetric and non-negative, and score[i, j] + score[j, i] must "
                         "equal battles[i, j] (each battle gives out one point)")
    return score, battles


def next_pair(models: list[str], score: np.ndarray, battles: np.ndarray, *, policy: str = "active",
              seed: int | None = None) -> tuple[str, str]:
    """The pair of models to show next, from counts derived from the vote facts.

    1. ``score[i, j]``: points model i took from model j (a win 1, a tie ½ to each); ``battles[i, j]``
       the battles between them (symmetric), both in the order of ``models``. 2. Fit the posterior.
    3. Return the pair with the largest expected ranking gain (``policy="active"``) or a uniform
    draw (``"uniform"``). The caller decides left/right order and which items of that pair to offer.
    """
    score, battles = _checked(models, score, battles, policy)
    rng = np.random.default_rng(seed)
    posterior = Posterior.fit(score, battles) if policy == "active" else None
    i, j = choose(posterior, battles, policy, rng)
    return models[i], models[j]


def ranked_pairs(models: list[str], score: np.ndarray, battles: np.ndarray, *, pending: np.ndarray | None = None,
                 seed: int | None = None) -> list[tuple[str, str]]:
    """Every pair of models, most worth a vote first (the active order of :func:`next_pair`).

    ``pending[i, j]``: votes on the pair being cast now (shown, not answered), counted as information
    to come so that concurrent annotators spread over pairs. For a batch of fixed items: offer a free
    item of the first pair that still has one.
    """
    score, battles = _checked(models, score, battles, "active")
    posterior = Posterior.fit(score, battles)
    if pending is not None:
        for i, j in zip(*np.nonzero(np.triu(np.asarray(pending), 1))):
            for _ in range(int(pending[i, j])):
                posterior.pending(int(i), int(j))
        battles = battles + pending
    pri = _priority(posterior, battles, np.random.default_rng(seed))
    iu, ju = np.triu_indices(len(models), 1)
    order = np.argsort(-pri[iu, ju], kind="stable")
    return [(models[iu[k]], models[ju[k]]) for k in order]
