"""Arena matchmaking: votes needed to recover a known ranking, active vs uniform pairing.

    .venv/bin/python bench/arena_bench.py [--seeds 20] [--first-seed 0] [--tie-rate 0.1] [--workers 2]

Ten simulated models with evenly spaced Bradley–Terry strengths; simulated annotators vote by those
strengths (ties at ``--tie-rate``). For each spread, both policies run on the same seeds and the bench
prints the median votes after which the fitted ranking kept Kendall τ ≥ 0.9 with the true one, the
median τ at the end, and the ratio uniform/active (goal: ≥ 2). Spreads are given as the rating gap
between neighbours on the arena scale (400 points = 10:1 odds); 45 points spans 400 points over the
ten models, an arena-like board, and 87 points twice that. The four (spread, policy) runs go to
``--workers`` processes; each reports its own time.
"""
from __future__ import annotations

import argparse
import math
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from studio.arena.simulate import simulate, strengths_from

SCENARIOS = (("neighbours 45 rating points apart", 45.0, 1500), ("neighbours 87 rating points apart", 87.0, 1000))


def _run(gap_points: float, votes: int, policy: str, seeds: int, first_seed: int, tie_rate: float) -> dict:
    gap = gap_points * math.log(10.0) / 400.0
    values = (np.arange(10) - 4.5) * gap
    truth = strengths_from({f"model-{k}": float(v) for k, v in enumerate(values)} | {"tie_rate": tie_rate})
    start = time.perf_counter()
    out = simulate(truth, votes, policy, seeds, first_seed)
    return out | {"seconds": time.perf_counter() - start}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--tie-rate", type=float, default=0.1)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    print(f"10 models, tie rate {args.tie_rate}, seeds {args.first_seed}..{args.first_seed + args.seeds - 1} per policy; "
          "votes = median votes after which Kendall tau >= 0.9 held")
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        runs = {(label, policy): pool.submit(_run, gap_points, votes, policy, args.seeds, args.first_seed, args.tie_rate)
                for label, gap_points, votes in SCENARIOS for policy in ("uniform", "active")}
    for label, gap_points, votes in SCENARIOS:
        gap = gap_points * math.log(10.0) / 400.0
        out = {policy: runs[(label, policy)].result() for policy in ("uniform", "active")}
        u, a = out["uniform"]["median_votes_to_tau90"], out["active"]["median_votes_to_tau90"]
        ratio = "n/a (raise the votes)" if u is None or a is None else f"{u / a:.2f}x"
        print(f"{label} (natural-log gap {gap:.3f}), {votes} votes per run:")
        for policy in ("uniform", "active"):
            r = out[policy]
            print(f"  {policy:<8} votes {r['median_votes_to_tau90']}  tau at end {r['tau_at_end']}  "
                  f"({r['seconds']:.0f} s)")
        print(f"  uniform/active = {ratio}  (goal >= 2x)")


if __name__ == "__main__":
    main()
