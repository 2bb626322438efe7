"""`python -m studio prefs …`: preference-pair datasets from comparison votes, in Pick-a-Pic's layout."""
from __future__ import annotations

from pathlib import Path

from studio.cli import CLIError, make_studio


def register(subparsers) -> None:
    p = subparsers.add_parser("prefs", help="preference datasets (winner/loser pairs) from comparison votes")
    sub = p.add_subparsers(dest="prefs_command", metavar="ACTION", required=True)
    q = sub.add_parser("build", help="pairs of a comparison batch's votes, written in Pick-a-Pic layout")
    q.add_argument("batch", help="comparison batch id or name")
    q.add_argument("--out", required=True, help="folder to write pairs.jsonl and images/ to (created)")
    q.add_argument("--source", default="human",
                   help="whose votes count: human, judge:<name> (a judge's verdicts), or both:<name> "
                        "(both alone when one judge voted)")
    q.add_argument("--keep-ties", action="store_true",
                   help="also write tie / both-bad comparisons as 0.5/0.5 rows (the trainers skip them)")
    q.add_argument("--preview", action="store_true", help="print the counts only, write nothing")
    q.set_defaults(func=_build)
    q = sub.add_parser("show", help="count the pairs of a Pick-a-Pic-layout folder")
    q.add_argument("folder")
    q.set_defaults(func=_show)


def _build(args) -> int:
    from studio.annotation import AnnotationError
    from studio.preferences.build import PreferenceError, build_preferences
    from studio.preferences.pickapic import PairFileError, write_pairs

    out = Path(args.out)
    if out.exists() and any(out.iterdir()) and not (out / "pairs.jsonl").exists():
        raise CLIError(f"{out} exists and is not a preference folder; pick an empty or new folder")
    try:
        result = build_preferences(make_studio(), args.batch, source=args.source, keep_ties=args.keep_ties)
    except (AnnotationError, PreferenceError) as exc:
        raise CLIError(str(exc)) from None
    print(result.preview_markdown())
    if args.preview:
        return 0
    if not result.pairs:
        raise CLIError("no pairs to write: the batch has no decided comparisons yet")
    try:
        path = write_pairs(result.pairs, out)
    except PairFileError as exc:
        raise CLIError(str(exc)) from None
    print(f"wrote {len(result.pairs)} rows to {path}")
    return 0


def _show(args) -> int:
    from finetune.preference_data import read_pair_rows, too_few_pairs, validate_pairs
    from finetune.datasets import DatasetError

    try:
        rows = read_pair_rows(args.folder)
        task = "diffusion-dpo-edit" if any(r.get("input_images") for r in rows) else "diffusion-dpo"
        report = validate_pairs(rows, task, 0)
    except DatasetError as exc:
        raise CLIError(str(exc)) from None
    print(report.to_markdown())
    refusal = too_few_pairs(report)
    if refusal:
        print(refusal)
    return 0
