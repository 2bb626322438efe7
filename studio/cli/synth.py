"""`python -m studio synth | import | export`: headless synthesis and dataset import/export."""
from __future__ import annotations

import json
import sys

from studio.cli import CLIError, make_studio


def register(sub) -> None:
    p = sub.add_parser("synth", help="synthesize prompts/instructions (and images) for taxonomy nodes")
    p.add_argument("--node", action="append", default=[], help="taxonomy node id (repeatable)")
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--method", choices=("template", "attributes", "llm"), default="template")
    p.add_argument("--difficulty", default=None,
                   help="default (the method's own: the paper's k for attributes) | balanced | easy | medium | hard | 1:2:1 "
                        "(all but default are the studio's)")
    p.add_argument("--lam", type=float, default=0.5, help="λ of the k distribution (attributes method; studio default 0.5, the paper gives no value)")
    p.add_argument("--images", default=None, metavar="BACKEND", help="render images with this backend")
    p.add_argument("--chat", default=None, metavar="BACKEND", help="chat backend for --method llm")
    p.add_argument("--image-first", action="store_true",
                   help="llm method: render the draft, then have the chat model caption the image into the prompt")
    p.add_argument("--dataset", default="synthesis")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--rpm", type=float, default=None, help="LLM requests per minute limit")
    p.add_argument("--near-dup", default="auto", choices=("auto", "embedding", "minhash", "off"))
    p.add_argument("--threshold", type=float, default=0.9)
    p.add_argument("--keep-existing", action="store_true",
                   help="keep rows whose prompt the dataset already has (by default they are dropped as duplicates)")
    p.add_argument("--resume", default=None, metavar="BATCH_ID", help="resume a stopped batch instead")
    p.add_argument("--out", default=None, help="write the batch's rows as JSON Lines here")
    p.add_argument("--ray", default=None, metavar="ADDRESS",
                   help="run the items on a Ray cluster: 'local' starts one here, 'auto' joins the cluster "
                        "this process runs in, or a cluster address (needs the optional ray package)")
    p.add_argument("--ray-actors", type=int, default=None, metavar="N",
                   help="with --ray: how many workers (default: one per GPU for GPU engines, one per CPU otherwise)")
    p.add_argument("--ray-gpus-per-actor", type=float, default=None, metavar="G",
                   help="with --ray: GPUs each worker reserves (default: 1 for GPU engines when the cluster has GPUs)")
    p.set_defaults(func=run_synth)

    p = sub.add_parser("import", help="import a ShareGPT-4o-Image / OpenGPT-4o-Image / studio dataset")
    p.add_argument("path")
    p.add_argument("--good-rows-only", action="store_true", help="import the good rows even if some are bad")
    p.add_argument("--dataset", default=None, help="dataset name for the imported samples")
    p.set_defaults(func=run_import)

    p = sub.add_parser("export", help="export samples in a dataset layout")
    p.add_argument("dir")
    p.add_argument("--format", choices=("sharegpt4o", "opengpt4o", "studio"), default="studio")
    p.add_argument("--dataset", default=None, help="only this dataset (default: all samples)")
    p.set_defaults(func=run_export)


def _progress(label: str):
    def show(done: int, total: int) -> None:
        print(f"\r{label}: {done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True)
    return show


def run_synth(args) -> int:
    from backends.base import BackendError
    from studio.synthesis.batches import BatchOptions, create_batch, run_batch
    from studio.synthesis.dedup import DedupSettings
    from studio.synthesis.jsonl import write_batch_jsonl
    from studio.synthesis.llm import NoChatBackend
    from studio.synthesis.planner import SynthesisRequest, parse_difficulty_mix
    from studio.raypool import RayUnavailable
    from studio.synthesis.templates import SynthesisError

    studio = make_studio()
    try:
        if args.resume:
            batch_id = args.resume
        else:
            if not args.node:
                raise CLIError("give at least one --node ID (see `python -m studio taxonomy`)")
            req = SynthesisRequest(nodes=args.node, count=args.count, seed=args.seed, method=args.method,
                                   difficulty_mix=parse_difficulty_mix(args.difficulty), lam=args.lam,
                                   image_first=args.image_first,
                                   dedup=DedupSettings(near=args.near_dup, threshold=args.threshold,
                                                       skip_existing=not args.keep_existing))
            opts = BatchOptions(dataset=args.dataset, images_backend=args.images, chat_backend=args.chat,
                                concurrency=args.concurrency, requests_per_minute=args.rpm)
            batch_id = create_batch(studio, req, opts, name=f"cli seed {args.seed}")
            print(f"batch {batch_id}", file=sys.stderr, flush=True)
        progress = lambda st: print(  # noqa: E731
            f"\r{st.done + st.failed}/{st.total} ({st.failed} failed)", end="", file=sys.stderr, flush=True)
        if args.ray:
            from studio.raypool import RayOptions
            from studio.synthesis.ray_runner import run_batch_on_ray

            status = run_batch_on_ray(studio, batch_id, RayOptions(address=args.ray, actors=args.ray_actors,
                                                                   gpus_per_actor=args.ray_gpus_per_actor),
                                      progress=progress)
        else:
            status = run_batch(studio, batch_id, progress=progress)
        print(f"\n{status.summary()}", file=sys.stderr)
        if args.out:
            n = write_batch_jsonl(studio, batch_id, args.out)
            print(f"wrote {n} rows to {args.out}", file=sys.stderr)
    except (SynthesisError, NoChatBackend, BackendError, RayUnavailable) as exc:
        raise CLIError(str(exc)) from None
    finally:
        studio.close()
    return 0 if status.failed == 0 else 1


def run_import(args) -> int:
    from studio.synthesis.importer import ImportFailed, import_dataset

    studio = make_studio()
    try:
        report = import_dataset(studio, args.path, good_rows_only=args.good_rows_only, dataset=args.dataset,
                                progress=_progress("rows checked"))
    except ImportFailed as exc:
        raise CLIError(str(exc)) from None
    finally:
        studio.close()
    for issue in report.issues[:50]:
        print(f"  {issue}", file=sys.stderr)
    if len(report.issues) > 50:
        print(f"  … and {len(report.issues) - 50} more", file=sys.stderr)
    print(report.summary())
    if report.issues and not report.applied:
        print("fix the rows above, or pass --good-rows-only to import the good rows", file=sys.stderr)
        return 1
    return 0


def run_export(args) -> int:
    from studio.synthesis.export import ExportError, export_dataset

    studio = make_studio()
    try:
        report = export_dataset(studio, args.dir, args.format, args.dataset, progress=_progress("exported"))
    except ExportError as exc:
        raise CLIError(str(exc)) from None
    finally:
        studio.close()
    print(report.summary())
    print(json.dumps({"files": report.files, "images": report.images}))
    return 0
