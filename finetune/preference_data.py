"""Preference-pair folders in Pick-a-Pic's layout, read and validated for the preference tasks.

A folder holds ``pairs.jsonl``, one pair per line with Pick-a-Pic's columns (``caption``, ``jpg_0``,
``jpg_1``, ``label_0``, ``label_1``; label 1/0 for a decided pair, 0.5/0.5 for a tie) plus the
studio's optional ``source_image`` (edits), ``weight`` and ``taxonomy_id``. Pick-a-Pic stores the
image bytes in ``jpg_0``/``jpg_1``; here they are paths relative to the folder (any format PIL reads),
so a folder stays inspectable and needs no parquet reader.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from finetune.datasets import DatasetError, ValidationReport, _probe
from studio.serverpaths import inside

PAIRS_FILE = "pairs.jsonl"
#: fewer decisive pairs than this cannot move a model in any useful way; refuse before launch
MIN_DECISIVE_PAIRS = 8


def read_pair_rows(folder: str | Path) -> list[dict[str, Any]]:
    """Rows ``{prompt, chosen_image, rejected_image, input_images, weight, ref, tie}`` of a folder."""
    folder = Path(folder).expanduser()
    path = folder / PAIRS_FILE if folder.is_dir() else folder
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror}); build one with "
                           "`python -m studio prefs build BATCH --out DIR`") from None
    base = path.parent
    rows = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        ref = f"pair {i}"
        try:
            raw = json.loads(line)
            l0, l1 = float(raw["label_0"]), float(raw["label_1"])
            first, second = str(raw["jpg_0"]), str(raw["jpg_1"])
        except (ValueError, KeyError, TypeError) as exc:
            rows.append({"ref": ref, "problem": f"not a Pick-a-Pic row ({type(exc).__name__}: {exc})"})
            continue
        chosen, rejected = (first, second) if l0 >= l1 else (second, first)
        source = raw.get("source_image")
        named = [chosen, rejected, *([str(source)] if source else [])]
        resolved = [inside(base, p) for p in named]
        if None in resolved:
            bad = named[resolved.index(None)]
            rows.append({"ref": ref, "problem": f"image path {bad!r} must be relative and stay inside the pairs folder"})
            continue
        rows.append({
            "prompt": str(raw.get("caption") or "").strip(),
            "chosen_image": str(resolved[0]),
            "rejected_image": str(resolved[1]),
            "input_images": [str(resolved[2])] if source else [],
            "weight": float(raw.get("weight", 1.0)),
            "tie": l0 == l1,
            "ref": ref,
        })
    return rows


def validate_pairs(rows: list[dict[str, Any]], task: str, resolution: int) -> ValidationReport:
    """Check pairs for a preference task: images present, decisive, task fit, enough of them."""
    report = ValidationReport()
    edit = task.endswith("-edit")
    cache: dict[str, tuple[int, int] | str] = {}
    for row in rows:
        report.total += 1
        ref = row["ref"]
        if row.get("problem"):
            report.add_error(ref, "malformed row", row["problem"])
            continue
        if row["tie"]:
            report.add_warning(ref, "tie skipped", "a tie has no winner; it is not trained on")
            continue
        ok = True
        if not row["prompt"]:
            report.add_error(ref, "empty prompt", "the caption is empty")
            ok = False
        if row["input_images"] and not edit:
            report.add_error(ref, "edit pair for a text-to-image task",
                             f"this pair edits a source image; pick {task}-edit with an InstructPix2Pix "
                             "base, or build the dataset from a text-to-image batch")
            ok = False
        elif edit and not row["input_images"]:
            report.add_error(ref, "task mismatch", f"task {task} needs the source image; this pair has none")
            ok = False
        for path in [row["chosen_image"], row["rejected_image"]] + row["input_images"][:1]:
            res = _probe(path, cache)
            if isinstance(res, str):
                kind = "missing image" if res == "missing" else "unreadable image"
                report.add_error(ref, kind, f"{Path(path).name}: {res}; rebuild the dataset or drop the pair "
                                            "with 'skip invalid rows'")
                ok = False
            elif min(res) < resolution:
                report.add_warning(ref, "smaller than resolution",
                                   f"{Path(path).name} is {res[0]}×{res[1]}; it will be upscaled to {resolution}")
        if not (0 < row["weight"] <= 1e3):
            report.add_error(ref, "bad weight", f"weight {row['weight']} must be positive")
            ok = False
        if ok:
            report.usable_rows.append({k: row[k] for k in ("prompt", "chosen_image", "rejected_image",
                                                           "input_images", "weight", "ref")})
    return report


def too_few_pairs(report: ValidationReport) -> str | None:
    """The refusal message when a dataset has too few decisive usable pairs, else None."""
    return too_few_decisive(report.usable)


def too_few_decisive(pairs: int) -> str | None:
    """The refusal message for ``pairs`` decisive pairs when they are too few, else None."""
    if pairs >= MIN_DECISIVE_PAIRS:
        return None
    return (f"only {pairs} decisive usable pairs (at least {MIN_DECISIVE_PAIRS} needed); collect "
            "more votes on the batch (ties and both-bad votes make no pair) and build the dataset again")
