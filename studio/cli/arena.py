"""`python -m studio arena simulate`: votes a matchmaking policy needs to recover a known ranking;
`arena open|status|fill|close|reopen`: open-ended arenas headless (see studio.arena.open_arena)."""
from __future__ import annotations

import argparse
import json
import sys

from studio.cli import CLIError


def register(subparsers) -> None:
    p = subparsers.add_parser("arena", help="open arenas (open, status, fill, close) and matchmaking simulation")
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
    register_open_arenas(sub)
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


def register_open_arenas(sub) -> None:
    o = sub.add_parser(
        "open", help="open an arena: backends and a prompt source; comparisons are made as votes come in",
        description="Opens an open-ended arena (a comparison batch whose comparisons are made on demand, the "
                    "pair chosen by matchmaking from the votes so far) and makes its first comparisons. "
                    "Exactly one prompt source: --nodes, --dataset, --prompts-file or --prompt.")
    o.add_argument("name")
    o.add_argument("--backend", action="append", default=[], dest="backends", metavar="NAME",
                   help="a backend to compare (give two or more)")
    o.add_argument("--task", choices=("text-to-image", "edit"), default="text-to-image")
    o.add_argument("--nodes", default="", help="comma-separated taxonomy node ids (prompts from synthesis templates)")
    o.add_argument("--count", type=int, default=50, help="prompts drawn from the nodes")
    o.add_argument("--dataset", default="", help="a studio dataset whose samples give the prompts")
    o.add_argument("--prompts-file", default="", help="prompts from .txt (one per line), .jsonl/.json or .csv")
    o.add_argument("--prompt", action="append", default=[], help="a prompt (repeat for more)")
    o.add_argument("--criteria", default="", help="comma-separated criteria (default: the task's own)")
    o.add_argument("--seeds", type=int, default=1, help="seeds per prompt")
    o.add_argument("--seed", type=int, default=0)
    o.add_argument("--size", type=int, default=None, help="image side in pixels (default: the backends' own)")
    o.add_argument("--policy", choices=("active", "uniform"), default="active")
    o.add_argument("--buffer", type=int, default=4, help="comparisons kept ready ahead of the annotators")
    o.add_argument("--overlap", type=int, default=1, help="annotators per comparison")
    o.add_argument("--time-limit", type=int, default=300, help="seconds one image may take")
    o.add_argument("--guidelines", default="")
    o.add_argument("--no-fill", action="store_true", help="make no comparisons now (a running app's keeper will)")
    o.add_argument("--json", action="store_true", help="print the arena's status as JSON")
    o.set_defaults(func=open_command)
    for verb, helptext in (("status", "an arena's counts and latest problem (all arenas without a name)"),
                           ("fill", "make comparisons until the arena has its buffer ready"),
                           ("close", "stop offering new comparisons"), ("reopen", "offer comparisons again")):
        c = sub.add_parser(verb, help=helptext)
        c.add_argument("name", nargs="?" if verb == "status" else None)
        c.add_argument("--json", action="store_true", help="print JSON")
        c.set_defaults(func=arena_command, verb=verb)


def _sources(args: argparse.Namespace) -> dict:
    given = {"nodes": bool(args.nodes.strip()), "dataset": bool(args.dataset.strip()),
             "file": bool(args.prompts_file.strip()), "text": bool(args.prompt)}
    chosen = [k for k, v in given.items() if v]
    if len(chosen) != 1:
        raise CLIError("give exactly one prompt source: --nodes, --dataset, --prompts-file or --prompt")
    return {"source": chosen[0], "nodes": [n.strip() for n in args.nodes.split(",") if n.strip()],
            "dataset": args.dataset, "path": args.prompts_file, "text": "\n".join(args.prompt)}


def open_command(args: argparse.Namespace) -> int:
    from studio.arena.open_arena import ArenaSpec, arena_status, open_arena
    from studio.arena.open_fill import top_up

    spec = ArenaSpec(name=args.name, backends=args.backends, task=args.task, count=args.count,
                     criteria=args.criteria or None, seeds=args.seeds, seed=args.seed, width=args.size,
                     height=args.size, policy=args.policy, buffer=args.buffer, overlap=args.overlap,
                     time_limit_s=args.time_limit, guidelines=args.guidelines, **_sources(args))

    def work(studio) -> list[str]:
        arena = open_arena(studio, spec, by="cli")
        problems = [] if args.no_fill else top_up(studio, arena).problems
        _print(arena_status(studio, arena), args.json)
        return problems

    return _on_studio(work)


def arena_command(args: argparse.Namespace) -> int:
    from studio.arena.open_arena import arena_status, list_arenas, set_open
    from studio.arena.open_fill import top_up

    def work(studio) -> list[str]:
        if args.verb == "status" and not args.name:
            arenas = list_arenas(studio)
            if args.json:
                json.dump([a.as_dict() for a in arenas], sys.stdout, indent=2)
                sys.stdout.write("\n")
            else:
                sys.stdout.write("".join(a.text() + "\n" for a in arenas) or "No open arenas yet.\n")
            return []
        if args.verb in ("close", "reopen"):
            set_open(studio, args.name, args.verb == "reopen")
        problems = top_up(studio, args.name).problems if args.verb == "fill" else []
        _print(arena_status(studio, args.name), args.json)
        return problems

    return _on_studio(work)


def _on_studio(work) -> int:
    """``work(studio)`` on a fresh studio closed after; a refusal ends the command with its message, and
    the problems ``work`` returns (images that could not be made) are printed as warnings."""
    from studio.annotation import AnnotationError
    from studio.cli import make_studio

    studio = make_studio()
    try:
        problems = work(studio)
    except AnnotationError as exc:
        raise CLIError(str(exc)) from None
    finally:
        studio.close()
    for problem in problems:
        sys.stderr.write(f"warning: {problem}\n")
    return 0


def _print(status, as_json: bool) -> None:
    if as_json:
        json.dump(status.as_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(status.text() + "\n")
