"""Training rows from a studio dataset or a released-dataset JSON file, and their validation report.

A row is ``{"prompt", "output_image", "input_images", "ref"}`` with absolute image paths. The
launcher validates every row before a run starts and writes the usable ones to a manifest (JSON
lines) that the training process reads, so training never depends on the UI or the samples table.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from PIL import Image, UnidentifiedImageError

from finetune.config import TASK_SAMPLE_KIND, DatasetSpec
from studio.markup import md_text
from studio.serverpaths import confine, inside

MAX_LISTED = 20  # problems listed in the report per kind; the counts are always complete


class DatasetError(ValueError):
    """The dataset cannot be read at all (missing file, not JSON, unknown dataset)."""


def confine_source(settings, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` (a run config as a mapping) with its dataset path resolved: a released-format file or a
    preference-pairs folder typed into a form must lie in a folder the server may read
    (raises ``studio.serverpaths.ServerPathRefused``, a ValueError, otherwise)."""
    dataset = data.get("dataset") or {}
    if dataset.get("source") in ("file", "preferences"):
        dataset["name"] = str(confine(settings, dataset.get("name") or ""))
    return data


@dataclass
class ValidationReport:
    total: int = 0
    usable_rows: list[dict[str, Any]] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    error_counts: Counter = field(default_factory=Counter)
    warning_counts: Counter = field(default_factory=Counter)
    min_size: tuple[int, int] | None = None
    max_size: tuple[int, int] | None = None

    @property
    def usable(self) -> int:
        return len(self.usable_rows)

    def launchable(self, skip_invalid: bool) -> bool:
        """True when training may start: some usable rows, and no errors unless they are skipped."""
        return self.usable > 0 and (skip_invalid or not self.error_counts)

    def add_error(self, ref: str, kind: str, msg: str) -> None:
        self.error_counts[kind] += 1
        if len(self.errors) < MAX_LISTED:
            self.errors.append((ref, msg))

    def add_warning(self, ref: str, kind: str, msg: str) -> None:
        self.warning_counts[kind] += 1
        if len(self.warnings) < MAX_LISTED:
            self.warnings.append((ref, msg))

    def to_markdown(self) -> str:
        lines = [f"**{self.usable} of {self.total} rows usable.**"]
        if self.min_size and self.max_size:
            lines.append(f"Image sizes from {self.min_size[0]}×{self.min_size[1]} to "
                         f"{self.max_size[0]}×{self.max_size[1]}.")
        if self.error_counts:
            lines.append("Errors: " + ", ".join(f"{k} ×{n}" for k, n in self.error_counts.items()))
            lines += [f"- {md_text(ref)}: {md_text(msg)}" for ref, msg in self.errors]
        if self.warning_counts:
            lines.append("Warnings: " + ", ".join(f"{k} ×{n}" for k, n in self.warning_counts.items()))
            lines += [f"- {md_text(ref)}: {md_text(msg)}" for ref, msg in self.warnings]
        if not self.error_counts and not self.warning_counts and self.total:
            lines.append("No problems found.")
        return "\n".join(lines)


# -- reading sources -------------------------------------------------------------------------
def read_released_file(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a ShareGPT-4o-Image / OpenGPT-4o-Image JSON file (array or one object per line)."""
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        data = json.loads(text)
    except ValueError:
        try:
            data = [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError as exc:
            raise DatasetError(f"{path}: neither a JSON array nor JSON lines ({exc})") from None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise DatasetError(f"{path}: expected a list of rows")
    rows = []
    base = path.parent
    for i, raw in enumerate(data):
        ref = f"row {i}"
        if not isinstance(raw, dict):
            rows.append({"prompt": "", "output_image": None, "input_images": [], "ref": ref,
                         "problem": "not an object"})
            continue
        inputs = raw.get("input_image") or []
        if isinstance(inputs, str):
            inputs = [inputs]
        out = raw.get("output_image")
        named = ([out] if isinstance(out, str) and out else []) + [p for p in inputs if isinstance(p, str)]
        outside = [p for p in named if inside(base, p) is None]
        if outside:  # absolute, or escaping the file's folder by .. or a symlink
            rows.append({"prompt": "", "output_image": None, "input_images": [], "ref": ref,
                         "problem": f"image path {outside[0]!r} must be relative and stay inside the file's folder"})
            continue
        rows.append({
            "prompt": str(raw.get("input_prompt") or raw.get("prompt") or "").strip(),
            "output_image": str(inside(base, out)) if isinstance(out, str) and out else None,
            "input_images": [str(inside(base, p)) for p in inputs if isinstance(p, str)],
            "ref": ref,
        })
    return rows


def read_studio_dataset(studio, name: str) -> list[dict[str, Any]]:
    """Rows of the studio samples in dataset ``name`` (text-to-image and edit samples)."""
    from sqlalchemy import select

    from studio.db.models import Sample

    with studio.db.session() as s:
        samples = list(s.execute(
            select(Sample.id, Sample.task, Sample.prompt, Sample.output_image, Sample.input_images)
            .where(Sample.dataset == name).order_by(Sample.created_at)
        ))
    if not samples:
        known = ", ".join(studio.samples.datasets()) or "none yet"
        raise DatasetError(f"studio dataset {name!r} has no samples (datasets: {known})")

    def path_of(sha: str | None) -> str | None:
        if not sha:
            return None
        found = studio.images.find(sha)
        return str(found) if found else str(studio.images.path_for(sha))

    return [{
        "prompt": (prompt or "").strip(),
        "output_image": path_of(out),
        "input_images": [p for p in (path_of(h) for h in (inputs or [])) if p],
        "ref": f"sample {sid[:8]}",
        "sample_task": task,
    } for sid, task, prompt, out, inputs in samples]


def read_rows(spec: DatasetSpec, studio=None) -> list[dict[str, Any]]:
    if spec.source == "file":
        rows = read_released_file(spec.name)
    else:
        if studio is None:
            raise DatasetError("a studio dataset needs the studio's database")
        rows = read_studio_dataset(studio, spec.name)
    return rows[: spec.limit] if spec.limit else rows


# -- validation ------------------------------------------------------------------------------
def _probe(path: str, cache: dict[str, tuple[int, int] | str]) -> tuple[int, int] | str:
    """(width, height) of a readable image, or the reason it is not."""
    if path in cache:
        return cache[path]
    p = Path(path)
    if not p.exists():
        result: tuple[int, int] | str = "missing"
    else:
        try:
            with Image.open(p) as img:
                size = img.size
                img.verify()
            result = size
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            result = f"unreadable ({type(exc).__name__})"
    cache[path] = result
    return result


def validate_rows(rows: Iterable[dict[str, Any]], task: str, resolution: int) -> ValidationReport:
    """Check every row for the task: images present and readable, sizes, prompts, task fit."""
    report = ValidationReport()
    want = TASK_SAMPLE_KIND[task]
    cache: dict[str, tuple[int, int] | str] = {}
    for row in rows:
        report.total += 1
        ref = row["ref"]
        ok = True
        if row.get("problem"):
            report.add_error(ref, "malformed row", row["problem"])
            continue
        if not row["prompt"]:
            report.add_error(ref, "empty prompt", "the prompt is empty")
            ok = False
        if want == "edit" and not row["input_images"]:
            report.add_error(ref, "task mismatch", f"task {task} needs a source image; this row has none")
            ok = False
        elif want == "text-to-image" and row["input_images"]:
            report.add_warning(ref, "input image ignored",
                               f"task {task} trains text-to-image; the row's input image is not used")
        if row.get("sample_task") and row["sample_task"] not in ("text-to-image", "edit"):
            report.add_error(ref, "task mismatch", f"a {row['sample_task']} sample cannot train {task}")
            ok = False
        images = ([row["output_image"]] if row["output_image"] else []) + (
            row["input_images"][:1] if want in ("edit", "mixed") else [])
        if not row["output_image"]:
            report.add_error(ref, "missing image", "no output image")
            ok = False
        for path in images:
            res = _probe(path, cache)
            if isinstance(res, str):
                kind = "missing image" if res == "missing" else "unreadable image"
                report.add_error(ref, kind, f"{Path(path).name}: {res}")
                ok = False
                continue
            w, h = res
            report.min_size = (w, h) if report.min_size is None or w * h < report.min_size[0] * report.min_size[1] else report.min_size
            report.max_size = (w, h) if report.max_size is None or w * h > report.max_size[0] * report.max_size[1] else report.max_size
            if min(w, h) < resolution:
                report.add_warning(ref, "smaller than resolution",
                                   f"{Path(path).name} is {w}×{h}; it will be upscaled to {resolution}")
        if ok:
            report.usable_rows.append({k: row[k] for k in ("prompt", "output_image", "input_images", "ref")})
    return report


def write_manifest(rows: list[dict[str, Any]], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def read_manifest(path: str | Path) -> list[dict[str, Any]]:
    with Path(path).open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
