"""`python -m studio reason`: run a reasoning-with-images request headless, print the interleaved
answer as it arrives, store the run, and optionally export it as a sample."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from studio.cli import CLIError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "reason", help="reasoning with images: rationale with [image: ...] parts, rendered (UnifiedVisual)",
        description="Ask a reasoner (or render a given rationale) and render its image parts; every run is stored.",
    )
    p.add_argument("question", nargs="?", default=None, help="the question or request (or use --example)")
    p.add_argument("--mode", default=None,
                   help="implicit | mm_text | mm_image | mm_regions | correction | edit (default: implicit)")
    p.add_argument("--image", type=Path, help="input image (modes mm_image, mm_regions, edit)")
    p.add_argument("--reasoner", help="chat backend that writes the rationale")
    p.add_argument("--image-backend", default="procedural", help="image backend (default: procedural)")
    p.add_argument("--critic", help="vision-language backend for image correction (default: the reasoner)")
    p.add_argument("--rationale-file", type=Path, help="render this rationale instead of asking a reasoner")
    p.add_argument("--example", help="start from a shipped example (its rationale is rendered unless --reasoner)")
    p.add_argument("--max-images", type=int, default=3)
    p.add_argument("--rounds", type=int, default=3, help="image correction rounds")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--export", metavar="DATASET", help="export the finished run as a sample into DATASET")
    p.add_argument("--json", action="store_true", help="print the stored run as JSON at the end")
    p.set_defaults(func=run_reason)


def _request(args: argparse.Namespace, studio):
    from studio.images import ImageLoadError, fit_within, load_image
    from studio.reasoning.examples import get_example
    from studio.reasoning.state import RunRequest

    mode, question, image, rationale = args.mode, args.question, None, None
    if args.example:
        try:
            ex = get_example(args.example)
        except KeyError as exc:
            raise CLIError(exc.args[0]) from None
        mode, question = mode or ex.mode, question or ex.question
        image = ex.load_input_image()
        rationale = None if args.reasoner else ex.rationale
    if args.rationale_file:
        try:
            rationale = args.rationale_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise CLIError(f"{args.rationale_file}: cannot read ({exc.strerror})") from None
    if args.image:
        s = studio.settings
        try:
            image, _ = fit_within(load_image(args.image, max_bytes=s.max_upload_bytes, max_pixels=s.max_image_pixels),
                                  s.max_working_side)
        except ImageLoadError as exc:
            raise CLIError(str(exc)) from None
    return RunRequest(
        mode=mode or "implicit", question=question or "", input_image=image, reasoner=args.reasoner,
        image_backend=args.image_backend, critic=args.critic, rationale=rationale,
        max_images=args.max_images, max_rounds=args.rounds, seed=args.seed,
    )


def run_reason(args: argparse.Namespace) -> int:
    from studio.cli import make_studio
    from studio.reasoning import ReasoningInputError
    from studio.reasoning.runner import ReasoningRunner
    from studio.reasoning.store import RunStore

    studio = make_studio()
    try:
        request = _request(args, studio)
        cursor = 0  # items are printed in rationale order, each once it is no longer pending
        state = None
        try:
            for state in ReasoningRunner(studio).run(request):
                while cursor < len(state.items) and state.items[cursor].status != "pending":
                    item = state.items[cursor]
                    cursor += 1
                    where = studio.images.find(item.image) if item.image else None
                    if item.kind in ("image", "crop"):
                        line = f"[{item.kind} {item.status}: {item.text}]" + (f" {where}" if where else "")
                        line += f" ({item.error})" if item.error else ""
                    else:
                        line = item.text + (f"  ({item.error})" if item.error else "")
                    print(line, flush=True)
        except ReasoningInputError as exc:
            raise CLIError(str(exc)) from None
        if state.final_answer:
            print(f"Final answer: {state.final_answer}")
        print(f"status: {state.status}; run {state.run_id}; timings {json.dumps(state.timings)}", file=sys.stderr)
        store = RunStore(studio)
        if args.export:
            try:
                sample_id, _ = store.export_sample(state.run_id, args.export)
            except ReasoningInputError as exc:
                raise CLIError(str(exc)) from None
            print(f"exported as sample {sample_id}", file=sys.stderr)
        if args.json:
            run = store.get(state.run_id)
            print(json.dumps({"id": run.id, "mode": run.mode, "status": run.status, "question": run.question,
                              "segments": run.segments, "final_answer": run.final_answer,
                              "final_image": run.final_image, "sample_id": run.sample_id,
                              "timings": run.timings, "notices": run.notices}, indent=2))
        return 0 if state.status in ("done",) else 1
    finally:
        studio.close()
