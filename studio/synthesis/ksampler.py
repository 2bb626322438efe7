"""The number of objects k of ShareGPT-4o-Image's prompt-first pipeline (Appendix B.2).

k is drawn from 1..100 with weights w(x) = exp(-λ(x-1)): fewer objects are more common, and a larger
λ makes the decay faster.
"""
from __future__ import annotations

import math
import random

K_MIN = 1
K_MAX = 100
#: the studio's choice: Appendix B.2 gives the formula and says larger λ decays faster, but no value
DEFAULT_LAMBDA = 0.5


def check_lambda(lam: float) -> float:
    """λ must be a positive finite number; the error says so in the user's terms."""
    try:
        lam = float(lam)
    except (TypeError, ValueError):
        raise ValueError(f"λ must be a number, got {lam!r}") from None
    if not math.isfinite(lam) or lam <= 0:
        raise ValueError(f"λ must be greater than 0 (got {lam}); larger λ means fewer objects per prompt")
    return lam


def k_weights(lam: float, k_max: int = K_MAX) -> list[float]:
    """Unnormalised weights w(x) for x = 1..k_max."""
    lam = check_lambda(lam)
    return [math.exp(-lam * (x - 1)) for x in range(K_MIN, k_max + 1)]


def k_distribution(lam: float, k_max: int = K_MAX) -> list[float]:
    """P(k = x) for x = 1..k_max (the weights normalised)."""
    w = k_weights(lam, k_max)
    total = sum(w)
    return [v / total for v in w]


def sample_k(rng: random.Random, lam: float, k_max: int = K_MAX) -> int:
    """One draw of k by inverting the cumulative distribution."""
    probs = k_distribution(lam, k_max)
    u = rng.random()
    acc = 0.0
    for x, p in enumerate(probs, start=K_MIN):
        acc += p
        if u < acc:
            return x
    return k_max
