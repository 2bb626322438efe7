"""`python -m studio leaderboard VOTES.jsonl`: Bradley–Terry ratings and pair win/tie/loss from battles."""
from __future__ import annotations

import argparse
import json
import sys

from studio.cli import CLIError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "leaderboard",
        help="ratings (Bradley–Terry, bootstrap intervals) and win/tie/loss from a battles JSONL",
        description="Reads arena-style battles (model_a, model_b, winner in {model_a, model_b, tie, "
                    "tie (bothbad)}) and prints per-model ratings on the arena scale and per-pair counts.",
    )
    p.add_argument("votes", metavar="VOTES.jsonl", help="battles as JSON lines (or a JSON array)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap rounds for the intervals (0: none)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the bootstrap")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from studio.annotation import AnnotationError
    from studio.annotation.battles import build_battles, read_battles_jsonl
    from studio.annotation.results import leaderboard_json

    if args.bootstrap < 0:
        raise CLIError("--bootstrap must be 0 or more")
    try:
        battles = build_battles(read_battles_jsonl(args.votes))
    except AnnotationError as exc:
        raise CLIError(str(exc)) from None
    if len(battles) == 0:
        raise CLIError(f"{args.votes}: every battle pits a model against itself; nothing to rank")
    result = leaderboard_json(battles, bootstrap=args.bootstrap, seed=args.seed)
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    out = sys.stdout
    width = max(5, *(len(m["model"]) for m in result["models"]))
    out.write(f"{'model':<{width}}  rating   lower    upper    battles\n")
    for m in result["models"]:
        out.write(f"{m['model']:<{width}}  {m['rating']:7.1f}  {m['lower']:7.1f}  {m['upper']:7.1f}  {m['battles']:7d}\n")
    out.write("\nmodel_a vs model_b: wins / ties / losses (ratios)\n")
    for p in result["pairs"]:
        out.write(f"{p['model_a']} vs {p['model_b']}: {p['wins']} / {p['ties']} / {p['losses']} "
                  f"({p['win_ratio']:.3f} / {p['tie_ratio']:.3f} / {p['loss_ratio']:.3f})\n")
    return 0
