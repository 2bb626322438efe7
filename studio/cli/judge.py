"""`python -m studio judge ...`: a judge on pairs or images from a manifest, and the judges there are."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from studio.cli import CLIError


def register(subparsers) -> None:
    p = subparsers.add_parser("judge", help="automatic judges: pairwise verdicts, rubric scores, trust",
                              description="Run an automatic judge (a vision-language backend, 'scene-graph' or "
                                          "a detector backend) on a manifest.")
    sub = p.add_subparsers(dest="judge_command", metavar="ACTION")
    pairs = sub.add_parser("pairs", help="judge each pair in both orders; with human winners, how far to trust it")
    pairs.add_argument("manifest", metavar="MANIFEST", help="comparison manifest (JSONL/CSV) as the Annotate import reads")
    pairs.add_argument("--judge", required=True, help="judge name (a backend of the config, or scene-graph)")
    pairs.add_argument("--criterion", default="overall", help="what to compare on (overall, instruction_fidelity, ...)")
    _common(pairs)
    pairs.set_defaults(func=run_pairs)
    score = sub.add_parser("score", help="pointwise rubric scores per image")
    score.add_argument("manifest", metavar="MANIFEST", help="rows with prompt and image (or output_a/output_b)")
    score.add_argument("--judge", required=True, help="judge name")
    score.add_argument("--rubric", required=True, help="omnicontext | edit | t2i | imgedit | geneval")
    _common(score)
    score.set_defaults(func=run_score)
    batch = sub.add_parser("batch", help="let a judge vote on a comparison batch (kept apart from human votes)")
    batch.add_argument("batch", metavar="BATCH", help="batch name or id")
    batch.add_argument("--judge", required=True)
    batch.add_argument("--criterion", action="append", help="criterion to judge (repeatable; default: the batch's)")
    batch.add_argument("--concurrency", type=int, default=8)
    batch.add_argument("--json", action="store_true")
    batch.set_defaults(func=run_batch)
    trust = sub.add_parser("trust", help="how far a judge agrees with the human votes of a batch")
    trust.add_argument("batch", metavar="BATCH")
    trust.add_argument("--judge", required=True)
    trust.add_argument("--json", action="store_true")
    trust.set_defaults(func=run_trust)
    board = sub.add_parser("board", help="a judge's leaderboard on a batch (or, with --combined, humans + judge)")
    board.add_argument("batch", metavar="BATCH")
    board.add_argument("--judge", required=True)
    board.add_argument("--criterion")
    board.add_argument("--combined", action="store_true", help="human votes and the judge's verdicts together")
    board.add_argument("--json", action="store_true")
    board.set_defaults(func=run_board)
    lst = sub.add_parser("list", help="the judges configured and what each can score")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=run_list)
    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--concurrency", type=int, default=8, help="requests in flight (API judges)")
    p.add_argument("--out", help="also write the per-item results as JSON lines to this file")
    p.add_argument("--json", action="store_true", help="print JSON")


def _studio():
    from studio.cli import make_studio

    return make_studio()


def _on_studio(call):
    """``call(studio)`` on a fresh studio that is closed after; a judge's refusal ends the command with it."""
    from studio.judges import JudgeError

    studio = _studio()
    try:
        return call(studio)
    except JudgeError as exc:
        raise CLIError(str(exc)) from None
    finally:
        studio.close()


def _judge(studio, name: str):
    from studio.judges import JudgeError
    from studio.judges.judges import resolve_judge

    try:
        return resolve_judge(studio.backends, name)
    except JudgeError as exc:
        raise CLIError(str(exc)) from None


def _write_out(path: str | None, rows: list[dict]) -> None:
    if path:
        with Path(path).open("w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")


def run_pairs(args: argparse.Namespace) -> int:
    from studio.judges import JudgeError
    from studio.judges.manifest import read_pairs
    from studio.judges.pairwise import PairTask, judge_pairs
    from studio.judges.trust import PairLabels, report, report_by_group

    if args.concurrency < 1:
        raise CLIError("--concurrency must be 1 or more")
    studio = _studio()
    try:
        judge = _judge(studio, args.judge)
        try:
            judge.check(pairwise=True)
            pairs = read_pairs(args.manifest, max_bytes=studio.settings.max_upload_bytes,
                               max_pixels=studio.settings.max_image_pixels)
        except JudgeError as exc:
            raise CLIError(str(exc)) from None
        tasks = [PairTask(p.key, p.prompt, p.a, p.b, p.sources, p.metadata) for p in pairs]
        results = judge_pairs(judge, tasks, args.criterion, args.concurrency)
        verdicts = []
        for p, r in zip(pairs, results):
            verdicts.append({**r.as_dict(), "rows": p.rows, "prompt": p.prompt, "model_a": p.model_a,
                             "model_b": p.model_b, "taxonomy_id": p.taxonomy_id, "human": p.humans})
        _write_out(args.out, verdicts)
        out: dict = {"judge": judge.name, "criterion": args.criterion, "verdicts": verdicts,
                     "counts": _counts(r.status for r in results), "usage": judge.usage()}
        labelled = [PairLabels(p.key, r.item_winner, r.consistent, p.humans, p.taxonomy_id)
                    for p, r in zip(pairs, results)]
        if any(p.humans for p in pairs):
            out.update(report(labelled))
            out["by_taxonomy"] = {k: v for k, v in report_by_group(labelled).items() if k != "(all)"}
        else:
            consistent = [r.consistent for r in results if r.consistent is not None]
            out["pairs"] = len(pairs)
            out["position_consistency"] = round(sum(consistent) / len(consistent), 4) if consistent else None
    finally:
        studio.close()
    if args.json:
        json.dump(out, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    for v in verdicts:
        flag = "" if v["position_consistent"] is not False else "  (position-inconsistent: counted as a tie)"
        shown = v["winner"] or f"no verdict ({v['status']})"
        print(f"{v['key']}: {shown}{flag}")
    for key in ("pairs", "agreement_with_humans", "cohen_kappa", "human_kappa", "position_consistency"):
        if key in out:
            print(f"{key}: {out[key]}")
    return 0


def _counts(statuses) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in statuses:
        out[s] = out.get(s, 0) + 1
    return out


def run_score(args: argparse.Namespace) -> int:
    from studio.judges import JudgeError
    from studio.judges.judges import JudgeItem
    from studio.judges.manifest import read_scores
    from studio.judges.pairwise import parallel_map
    from studio.judges.rubrics import RUBRICS

    if args.rubric not in RUBRICS:
        raise CLIError(f"unknown rubric {args.rubric!r}; known: {', '.join(RUBRICS)}")
    if args.concurrency < 1:
        raise CLIError("--concurrency must be 1 or more")
    studio = _studio()
    try:
        judge = _judge(studio, args.judge)
        try:
            judge.check(rubric=args.rubric)
            rows = read_scores(args.manifest, max_bytes=studio.settings.max_upload_bytes,
                               max_pixels=studio.settings.max_image_pixels)
        except JudgeError as exc:
            raise CLIError(str(exc)) from None
        scores = parallel_map(lambda r: judge.score(JudgeItem(r.prompt, r.image, r.sources, r.metadata), args.rubric),
                              rows, args.concurrency)
        items = [{"key": r.key, "row": r.row, "prompt": r.prompt, "model": r.model, "taxonomy_id": r.taxonomy_id,
                  **s.as_dict()} for r, s in zip(rows, scores)]
        _write_out(args.out, items)
        from studio.judges.aggregate import aggregate

        out = {"judge": judge.name, "rubric": args.rubric, "items": items,
               "counts": _counts(s.status for s in scores), "aggregates": aggregate(items),
               "usage": judge.usage()}
    finally:
        studio.close()
    if args.json:
        json.dump(out, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    for it in items:
        shown = f"{it['aggregate'].get('overall'):.3f}" if it["status"] == "ok" else f"({it['status']}: {it['problem']})"
        print(f"{it['key']} {it['model']}: {shown}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from studio.judges import JudgeError
    from studio.judges.judges import judge_names, resolve_judge

    studio = _studio()
    try:
        rows = []
        for name in judge_names(studio.backends):
            try:  # building a judge loads no weights (models load on first use)
                rows.append(resolve_judge(studio.backends, name).describe())
            except JudgeError as exc:
                rows.append({"name": name, "error": str(exc)})
    finally:
        studio.close()
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for r in rows:
            print(f"{r['name']}: " + (f"{r['kind']}; rubrics {', '.join(r['rubrics'])}; pairs "
                                      f"{'yes' if r['pairwise'] else 'no'}" if "kind" in r else r["error"]))
    return 0


def _dump(out) -> None:
    json.dump(out, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def run_batch(args: argparse.Namespace) -> int:
    from studio.judges.arena import judge_batch

    if args.concurrency < 1:
        raise CLIError("--concurrency must be 1 or more")
    out = _on_studio(lambda studio: judge_batch(studio, args.batch, args.judge, criteria=args.criterion,
                                                 concurrency=args.concurrency))
    if args.json:
        _dump(out)
    else:
        for criterion, counts in out["counts"].items():
            print(f"{criterion}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


def run_trust(args: argparse.Namespace) -> int:
    from studio.judges.arena import batch_trust

    out = _on_studio(lambda studio: batch_trust(studio, args.batch, args.judge))
    if args.json:
        _dump(out)
        return 0
    for criterion, groups in out["criteria"].items():
        for group, r in groups.items():
            print(f"{criterion} {group}: pairs {r['pairs']}, agreement {r['agreement_with_humans']}, "
                  f"judge kappa {r['cohen_kappa']}, human kappa {r['human_kappa']}, "
                  f"position consistency {r['position_consistency']}")
    return 0


def run_board(args: argparse.Namespace) -> int:
    from studio.judges.arena import judge_board

    out = _on_studio(lambda studio: judge_board(studio, args.batch, args.judge, criterion=args.criterion,
                                                 combined=args.combined))
    if args.json:
        _dump(out)
        return 0
    print(out["label"])
    for m in out["models"]:
        print(f"{m['model']}: {m['rating']:.1f} [{m['lower']:.1f}, {m['upper']:.1f}] ({m['battles']} battles)")
    return 0
