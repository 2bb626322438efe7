"""`python -m studio arena simulate`: votes a matchmaking policy needs to recover a known ranking."""
from __future__ import annotations

import argparse
import json
import sys

from studio.cli import CLIError


def register(subparsers) -> None:
    p = subparsers.add_parser("arena", help="open-arena tools: simulate matchmaking policies")
    sub = p.add_subparsers(dest="arena_command", metavar="ARENA_COMMAND")
    s = sub.add_parser(
        "simulate",
        help="simulated annotators with known strengths: votes until Kendall tau >= 0.9 holds",
        description="Simulates votes between models of known Bradley–Terry strengths (ties at tie_rate), "
                    "choosing pairs by POLICY, and reports the median votes after which the fitted ranking "
                    "kept Kendall tau >= 0.9 with the true one, and the median tau after all votes.",
    )
    s.add_argument("--strengths", required=True, metavar="FILE",
                   help='JSON {"model": strength, ...} on the natural-log BT scale, optional "tie_rate"')
    s.add_argument("--votes", type=int, required=True, help="votes per simulated arena")
    s.add_argument("--policy", choices=("active", "uniform"), default="active")
    s.add_argument("--seeds", type=int, default=20, help="simulated arenas (seeds 0..K-1)")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(func=simulate)
    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])


def simulate(args: argparse.Namespace) -> int:
    from studio.arena.simulate import SimulationError, load_strengths
    from studio.arena.simulate import simulate as run_simulation

    try:
        result = run_simulation(load_strengths(args.strengths), args.votes, args.policy, args.seeds)
    except SimulationError as exc:
        raise CLIError(str(exc)) from None
    if args.json:
        json.dump(result, sys.stdout)
        sys.stdout.write("\n")
    else:
        needed = result["median_votes_to_tau90"]
        sys.stdout.write(f"{result['policy']} over {result['seeds']} seeds: median votes to hold tau >= 0.9: "
                         f"{'not reached (try more votes)' if needed is None else int(needed)}; "
                         f"median tau at the end: {result['tau_at_end']}\n")
    return 0
