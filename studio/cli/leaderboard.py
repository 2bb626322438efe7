"""`python -m studio leaderboard [VOTES.jsonl]`: the leaderboard JSON the Results page shows.

Without a file it reads this studio's vote facts (``--batch``, ``--criterion``, a personal board with
``--annotator``, ``--exclude`` annotators); with a file it reads arena-style battles.
"""
from __future__ import annotations

import argparse
import json
import sys

from studio.cli import CLIError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "leaderboard",
        help="ratings (Bradley–Terry, 95%% intervals, interval ranks) and win/tie/loss from votes",
        description="Reads this studio's votes, or arena-style battles (model_a, model_b, winner in {model_a, "
                    "model_b, tie, tie (bothbad)}), and prints per-model ratings on the arena scale with 95%% "
                    "intervals and ranks that respect them, per-pair counts, matrices and per-task/node boards.",
    )
    p.add_argument("votes", metavar="VOTES.jsonl", nargs="?",
                   help="battles as JSON lines (or a JSON array); omit to use this studio's votes")
    p.add_argument("--batch", help="only this batch (name or id; studio votes only)")
    p.add_argument("--criterion", help="rank by this criterion instead of the overall winner (studio votes only)")
    p.add_argument("--annotator", help="a personal board: only this annotator's votes")
    p.add_argument("--exclude", default="", help="comma-separated annotators whose votes are left out")
    p.add_argument("--ci", choices=("sandwich", "bootstrap"), default="sandwich",
                   help="interval behind ci_lower/ci_upper and rank (default: sandwich)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap rounds for lower/upper (0: none)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the bootstrap")
    p.add_argument("--reweight", action="store_true", help="down-weight over-sampled pairs")
    p.add_argument("--min-battles", type=int, default=None,
                   help="models with fewer battles are marked provisional (default 30)")
    p.add_argument("--depth", type=int, default=2, help="taxonomy path parts per node board (default 2)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from studio.annotation import AnnotationError
    from studio.annotation.battles import build_battles, read_battles_jsonl
    from studio.annotation.boards import leaderboard_json, select_judges
    from studio.annotation.ranking import PROVISIONAL_BELOW

    exclude = tuple(e.strip() for e in args.exclude.split(",") if e.strip())
    options = dict(ci=args.ci, bootstrap=args.bootstrap, seed=args.seed, reweight=args.reweight,
                   min_battles=PROVISIONAL_BELOW if args.min_battles is None else args.min_battles, depth=args.depth)
    try:
        if args.votes:
            if args.batch or args.criterion:
                raise CLIError("--batch and --criterion apply to this studio's votes; drop them or the file")
            battles = build_battles(read_battles_jsonl(args.votes))
            if len(battles) == 0:
                raise CLIError(f"{args.votes}: every battle pits a model against itself; nothing to rank")
            battles = select_judges(battles, only=args.annotator, exclude=exclude)
            if len(battles) == 0:
                raise CLIError("no battles are left after choosing annotators; check --annotator/--exclude")
            result = leaderboard_json(battles, **options)
        else:
            from studio.annotation.results import studio_leaderboard
            from studio.cli import make_studio

            result = studio_leaderboard(make_studio(), args.batch, criterion=args.criterion,
                                        annotator=args.annotator, exclude=exclude, **options)
    except AnnotationError as exc:
        raise CLIError(str(exc)) from None
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    out = sys.stdout
    if not result["models"]:
        out.write("No votes yet.\n")
        return 0
    width = max(5, *(len(m["model"]) for m in result["models"]))
    out.write(f"rank  {'model':<{width}}  rating   95% CI ({result['ci']['method']})     battles\n")
    for m in result["models"]:
        lo = "-inf" if m["ci_lower"] is None else f"{m['ci_lower']:.1f}"
        hi = "+inf" if m["ci_upper"] is None else f"{m['ci_upper']:.1f}"
        badge = "  provisional" if m["provisional"] else ""
        out.write(f"{m['rank']:>4}  {m['model']:<{width}}  {m['rating']:7.1f}  {lo:>8} – {hi:<8}  "
                  f"{m['battles']:7d}{badge}\n")
    out.write("\nmodel_a vs model_b: wins / ties / losses (ratios)\n")
    for p in result["pairs"]:
        out.write(f"{p['model_a']} vs {p['model_b']}: {p['wins']} / {p['ties']} / {p['losses']} "
                  f"({p['win_ratio']:.3f} / {p['tie_ratio']:.3f} / {p['loss_ratio']:.3f})\n")
    return 0
