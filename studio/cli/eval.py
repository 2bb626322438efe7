"""`python -m studio eval ...`: evaluation runs (backends × prompt set × judge), resumable."""
from __future__ import annotations

import argparse
import json
import sys

from studio.cli import CLIError


def register(subparsers) -> None:
    p = subparsers.add_parser("eval", help="evaluation runs: backends × prompt set × judge",
                              description="Score backends on a prompt set with a judge. A run is resumable: "
                                          "`eval run NAME` again does only what is left.")
    sub = p.add_subparsers(dest="eval_command", metavar="ACTION")
    run = sub.add_parser("run", help="create and run (or resume) an evaluation run")
    run.add_argument("name", metavar="NAME", help="run name (an existing run is resumed)")
    run.add_argument("--backend", action="append", default=[], help="backend to evaluate (repeatable)")
    run.add_argument("--judge", help="judge name (a vision-language backend, a detector backend or scene-graph)")
    run.add_argument("--rubric", help="omnicontext | edit | t2i | imgedit | geneval")
    src = run.add_mutually_exclusive_group()
    src.add_argument("--geneval", metavar="FILE", help="GenEval evaluation_metadata.jsonl")
    src.add_argument("--geneval-templates", type=int, metavar="N", help="N prompts from GenEval's templates")
    src.add_argument("--prompts", metavar="FILE", help="prompts or edit instructions (JSONL/CSV/TXT; source_image)")
    src.add_argument("--node", action="append", help="taxonomy node through the synthesis planner (repeatable)")
    src.add_argument("--dataset", help="a studio dataset's prompts")
    run.add_argument("--count", type=int, default=20, help="prompts to plan per run with --node")
    run.add_argument("--width", type=int, default=512)
    run.add_argument("--height", type=int, default=512)
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--concurrency", type=int, default=4)
    run.add_argument("--retry-failed", action="store_true", help="redo the run's failed items")
    run.add_argument("--items", action="store_true", help="include every item (scores, rationale, image hash)")
    run.add_argument("--json", action="store_true")
    run.add_argument("--ray", default=None, metavar="ADDRESS",
                     help="run the rows on a Ray cluster: 'local', 'auto' or a cluster address (optional ray package)")
    run.add_argument("--ray-actors", type=int, default=None, metavar="N", help="with --ray: how many workers")
    run.set_defaults(func=run_eval_cmd)
    st = sub.add_parser("status", help="a run's counts, usage and aggregates")
    st.add_argument("name", metavar="NAME")
    st.add_argument("--items", action="store_true")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=status_cmd)
    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])


def _studio():
    from studio.cli import make_studio

    return make_studio()


def _prompts(studio, args):
    from studio.judges import promptsets

    if args.geneval:
        return promptsets.from_geneval_file(args.geneval), {"geneval": args.geneval}
    if args.geneval_templates is not None:
        return promptsets.from_geneval_templates(args.geneval_templates, args.seed), {"geneval_templates": args.geneval_templates}
    if args.prompts:
        return promptsets.from_prompt_list(studio, args.prompts), {"prompts": args.prompts}
    if args.node:
        return promptsets.from_taxonomy(studio, args.node, args.count, args.seed), {"nodes": args.node, "count": args.count}
    if args.dataset:
        return promptsets.from_dataset(studio, args.dataset), {"dataset": args.dataset}
    return None, {}


def _print(out, as_json: bool) -> None:
    if as_json:
        json.dump(out, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return
    print(f"{out['run']}: {out['status']} — " + ", ".join(f"{k} {v}" for k, v in out["counts"].items()))
    if out["downscaled"]:
        print(f"  {out['downscaled']} item(s) had images downscaled to the judge API's size limit")
    for model, agg in out["aggregates"]["by_model"].items():
        overall = agg.get("overall", {})
        print(f"  {model}: overall {overall.get('mean')} {overall.get('ci')} ({agg['scored']}/{agg['items']} scored)")
    u = out["usage"]
    print(f"  judge usage: {u['calls']} calls, {u['prompt_tokens']}+{u['completion_tokens']} tokens, ${u['cost_usd']}")


def run_eval_cmd(args: argparse.Namespace) -> int:
    from studio.judges import JudgeError
    from studio.judges.evalruns import EvalRequest, create_run, list_runs, retry_failed, run_eval
    from studio.raypool import RayUnavailable

    if args.concurrency < 1:
        raise CLIError("--concurrency must be 1 or more")
    studio = _studio()
    try:
        exists = any(r["name"] == args.name for r in list_runs(studio))
        prompts, source = _prompts(studio, args)
        if exists and prompts is not None:
            raise CLIError(f"run '{args.name}' exists; resume it with `eval run {args.name}` alone or pick a new name")
        if not exists:
            if prompts is None:
                raise CLIError("give a prompt set: --geneval, --geneval-templates, --prompts, --node or --dataset")
            if not args.judge or not args.rubric or not args.backend:
                raise CLIError("a new run needs --backend, --judge and --rubric")
            create_run(studio, EvalRequest(args.name, args.backend, args.judge, args.rubric, prompts, args.width,
                                           args.height, args.seed, source))
        elif args.retry_failed:
            retry_failed(studio, args.name)
        if args.ray:
            from studio.judges.ray_eval import run_eval_on_ray
            from studio.raypool import RayOptions

            out = run_eval_on_ray(studio, args.name, RayOptions(address=args.ray, actors=args.ray_actors))
        else:
            out = run_eval(studio, args.name, concurrency=args.concurrency)
        if args.items:
            from studio.judges.evalruns import run_summary

            out = run_summary(studio, args.name, items=True)
    except (JudgeError, RayUnavailable) as exc:
        raise CLIError(str(exc)) from None
    finally:
        studio.close()
    _print(out, args.json)
    return 0


def status_cmd(args: argparse.Namespace) -> int:
    from studio.judges import JudgeError
    from studio.judges.evalruns import run_summary

    studio = _studio()
    try:
        out = run_summary(studio, args.name, items=args.items)
    except JudgeError as exc:
        raise CLIError(str(exc)) from None
    finally:
        studio.close()
    _print(out, args.json)
    return 0
