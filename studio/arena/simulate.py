"""Simulated annotators with known Bradley–Terry strengths: how many votes does a matchmaking
policy need before the fitted ranking agrees with the true one (Kendall τ ≥ 0.9)?

Each simulated vote draws a tie with probability ``tie_rate`` and otherwise a winner with
P(i beats j) = σ(s_i − s_j). Both policies are scored with the same estimator (the posterior mean
that the active policy also uses) every ``CHECK_EVERY`` votes. The active policy refits after every
vote, as the vote path does at every claim.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from statistics import median

import numpy as np
from scipy.stats import kendalltau

from studio.arena.matchmaking import POLICIES, Posterior, choose

CHECK_EVERY = 10
TARGET_TAU = 0.9
MAX_VOTES = 1_000_000
MAX_SEEDS = 10_000


class SimulationError(ValueError):
    """Bad strengths file or settings; the message says what to fix."""


@dataclass
class Strengths:
    models: list[str]
    values: np.ndarray
    tie_rate: float = 0.0


def load_strengths(path: str | Path) -> Strengths:
    """``{model: strength, ..., "tie_rate": r}`` (natural-log Bradley–Terry scale; tie_rate optional)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SimulationError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise SimulationError(f"{path}: not a JSON object of model strengths ({exc})") from None
    if not isinstance(data, dict):
        raise SimulationError(f"{path}: expected a JSON object like {{\"model-a\": 0.4, \"model-b\": -0.1}}")
    return strengths_from(data, str(path))


def strengths_from(data: dict, where: str = "strengths") -> Strengths:
    data = dict(data)
    tie_rate = data.pop("tie_rate", 0.0)
    if not isinstance(tie_rate, (int, float)) or isinstance(tie_rate, bool) or not 0.0 <= tie_rate < 1.0:
        raise SimulationError(f"{where}: tie_rate must be a number in [0, 1), got {tie_rate!r}")
    bad = [k for k, v in data.items()
           if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v)]
    if bad:
        raise SimulationError(f"{where}: strengths must be finite numbers; check {', '.join(map(repr, bad[:3]))}")
    if len(data) < 2:
        raise SimulationError(f"{where}: at least two models are needed to rank")
    return Strengths(list(data), np.array([float(v) for v in data.values()]), float(tie_rate))


def run_once(truth: Strengths, votes: int, policy: str, seed: int) -> tuple[int | None, float]:
    """One simulated arena: (votes from which τ ≥ 0.9 held at every later check, or None when
    τ < 0.9 after the last vote; τ after all votes). Holding, not first touching, is what counts:
    a noisy estimate crosses 0.9 by luck long before it stays there."""
    m = len(truth.models)
    rng = np.random.default_rng(seed)
    score = np.zeros((m, m))
    battles = np.zeros((m, m))
    posterior: Posterior | None = None
    reached, tau = None, float("nan")
    for t in range(1, votes + 1):
        i, j = choose(posterior, battles, policy, rng)
        if rng.random() < truth.tie_rate:
            points = 0.5
        else:
            points = float(rng.random() < 1.0 / (1.0 + math.exp(truth.values[j] - truth.values[i])))
        score[i, j] += points
        score[j, i] += 1.0 - points
        battles[i, j] += 1
        battles[j, i] += 1
        check = t % CHECK_EVERY == 0 or t == votes
        if check or policy == "active":
            posterior = Posterior.fit(score, battles, None if posterior is None else posterior.mean)
        if check:
            tau = float(kendalltau(posterior.mean, truth.values).statistic)
            if tau < TARGET_TAU:
                reached = None
            elif reached is None:
                reached = t
    return reached, tau


def simulate(truth: Strengths, votes: int, policy: str, seeds: int, first_seed: int = 0) -> dict:
    """``{"policy", "seeds", "median_votes_to_tau90", "tau_at_end"}`` over ``seeds`` runs.

    A run counts from the check after which τ stayed ≥ 0.9; one that ends below counts as needing
    more than ``votes``; when over half do, the
    median is null (run more votes). ``tau_at_end`` is the median τ after the last vote.
    """
    if policy not in POLICIES:
        raise SimulationError(f"policy is one of {', '.join(POLICIES)}, not {policy!r}")
    if not 1 <= votes <= MAX_VOTES:
        raise SimulationError(f"votes must be between 1 and {MAX_VOTES}, got {votes}")
    if not 1 <= seeds <= MAX_SEEDS:
        raise SimulationError(f"seeds must be between 1 and {MAX_SEEDS}, got {seeds}")
    needed, taus = [], []
    for s in range(first_seed, first_seed + seeds):
        reached, tau = run_once(truth, votes, policy, s)
        needed.append(math.inf if reached is None else reached)
        taus.append(tau)
    mid = median(needed)
    return {"policy": policy, "seeds": seeds,
            "median_votes_to_tau90": None if math.isinf(mid) else float(mid),
            "tau_at_end": round(float(median(taus)), 4)}
