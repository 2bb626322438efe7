"""Export samples in the released datasets' layouts (ShareGPT-4o-Image, OpenGPT-4o-Image) or the studio's.

Every layout writes JSON rows with ``input_prompt``, ``input_image`` (list) and ``output_image``, paths
relative to the JSON file's folder, plus the studio's own fields (id, task, taxonomy, difficulty,
attributes, seed, backend, method, source, dataset, provenance, llm, created_at, turns) so that an
export imported into an empty database gives the same samples back. docs/datasets.md describes the
files. Any sample task is exported: text-to-image, edit, multi-turn-edit and reasoning.
"""
from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from sqlalchemy import select

from studio.db.models import Sample, StoredImage

FORMATS = ("sharegpt4o", "opengpt4o", "studio")
#: per layout: task -> JSON file
FILES = {
    "sharegpt4o": {"text-to-image": "text_to_image.json", "edit": "text_and_image_to_image.json",
                   "multi-turn-edit": "multi_turn_edit.json", "reasoning": "reasoning.json"},
    "opengpt4o": {"text-to-image": "gen.json", "edit": "editing.json",
                  "multi-turn-edit": "multi_turn.json", "reasoning": "reasoning.json"},
    "studio": {"*": "samples.jsonl"},
}
_SHA = re.compile(r"^[0-9a-f]{64}$")
#: turn keys whose values are stored image hashes
IMAGE_KEYS = ("output_image", "mask_image", "image", "input_image", "reference_images")


class ExportError(ValueError):
    """The export cannot be written (bad format, no samples, unwritable folder)."""


@dataclass
class ExportReport:
    out_dir: Path
    files: dict[str, int] = field(default_factory=dict)
    images: int = 0
    missing_images: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = ", ".join(f"{name}: {n} rows" for name, n in self.files.items())
        miss = f"; {len(self.missing_images)} image(s) missing from the store" if self.missing_images else ""
        return f"exported to {self.out_dir} — {parts}; {self.images} image files{miss}"


def _iso(dt) -> str | None:
    return dt.isoformat() if dt is not None else None


class _ImageWriter:
    """Copies store images into the export folder under the layout's names."""

    def __init__(self, studio, out_dir: Path, report: ExportReport) -> None:
        self.studio, self.out_dir, self.report = studio, out_dir, report
        self.written: dict[tuple[str, str], str] = {}
        with studio.db.session() as s:
            self.ext = {sha: Path(rel).suffix for sha, rel in s.execute(select(StoredImage.sha256, StoredImage.rel_path))}

    def write(self, sha: str | None, name: str | None = None) -> str | None:
        if not sha:
            return None
        src = self.studio.images.find(sha)
        if src is None:
            self.report.missing_images.append(sha)
            return None
        rel = f"{name or 'images/' + sha}{src.suffix}"
        key = (sha, rel)
        if key in self.written:
            return self.written[key]
        dest = self.out_dir / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.exists():
            shutil.copyfile(src, dest)
            self.report.images += 1
        self.written[key] = rel
        return rel


def _map_images(value: Any, key: str, write: Callable[[str, str | None], str | None], stem: str | None) -> Any:
    """Image hashes under ``key`` replaced by exported relative paths (lists get _0, _1 ... names)."""
    if key not in IMAGE_KEYS:
        return value
    if isinstance(value, str) and _SHA.match(value):
        return write(value, None if stem is None else f"{stem}_{key}")
    if isinstance(value, list):
        return [write(v, None if stem is None else f"{stem}_{key}_{i}") if isinstance(v, str) and _SHA.match(v) else v
                for i, v in enumerate(value)]
    return value


def sample_row(sample: Sample, paths: dict[str, Any], turns: list[dict[str, Any]] | None) -> dict[str, Any]:
    """One exported row: the released fields first, then the studio's."""
    row: dict[str, Any] = {"input_prompt": sample.prompt}
    if paths.get("input_image"):
        row["input_image"] = paths["input_image"]
    if paths.get("output_image") is not None:
        row["output_image"] = paths["output_image"]
    row.update({
        "id": sample.id, "task": sample.task, "taxonomy": sample.taxonomy_id, "difficulty": sample.difficulty,
        "attributes": sample.attributes, "seed": sample.seed, "backend": sample.backend,
        "method": sample.method, "source": sample.source, "dataset": sample.dataset,
        "provenance": sample.provenance, "llm": sample.llm, "created_at": _iso(sample.created_at),
    })
    if turns is not None:
        row["turns"] = turns
    return row


def iter_samples(studio, dataset: str | None, chunk: int = 2000) -> Iterator[Sample]:
    last = ""
    while True:
        stmt = select(Sample).where(Sample.id > last).order_by(Sample.id).limit(chunk)
        if dataset:
            stmt = stmt.where(Sample.dataset == dataset)
        with studio.db.session() as s:
            rows = s.execute(stmt).scalars().all()
        if not rows:
            return
        yield from rows
        last = rows[-1].id


def export_dataset(studio, out_dir: str | Path, fmt: str = "studio", dataset: str | None = None,
                   progress: Callable[[int, int], None] | None = None) -> ExportReport:
    """Write the samples of ``dataset`` (all when None) to ``out_dir`` in layout ``fmt``."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; use {', '.join(FORMATS)}")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise ExportError(f"{out} is not empty; export into a new or empty folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create {out}: {exc.strerror}") from None
    report = ExportReport(out_dir=out)
    images = _ImageWriter(studio, out, report)
    with studio.db.session() as s:
        from sqlalchemy import func
        stmt = select(func.count()).select_from(Sample)
        if dataset:
            stmt = stmt.where(Sample.dataset == dataset)
        total = int(s.execute(stmt).scalar_one())
    if total == 0:
        raise ExportError(f"no samples{' in dataset ' + repr(dataset) if dataset else ''} to export")
    rows_by_file: dict[str, list[dict[str, Any]]] = {}
    counters: dict[str, int] = {}
    for done, sample in enumerate(iter_samples(studio, dataset), start=1):
        fname = FILES[fmt].get(sample.task) or FILES[fmt].get("*") or f"{sample.task}.json"
        n = counters.get(fname, 0)
        counters[fname] = n + 1
        if fmt == "opengpt4o":
            folder = {"gen.json": "gen", "editing.json": "editing"}.get(fname, Path(fname).stem)
            names = {"in": f"{folder}/input_{n}", "out": f"{folder}/{n}" if folder == "gen" else f"{folder}/output_{n}",
                     "turn": f"{folder}/turn_{n}"}
        else:
            names = {"in": None, "out": None, "turn": None}

        inputs = []
        for i, sha in enumerate(sample.input_images or []):
            stem = None if names["in"] is None else (names["in"] if i == 0 else f"{names['in']}_{i}")
            inputs.append(images.write(sha, stem))
        paths = {"input_image": inputs, "output_image": images.write(sample.output_image, names["out"])}
        turns = None
        if sample.turns is not None:
            turns = []
            for k, t in enumerate(sample.turns):
                stem = None if names["turn"] is None else f"{names['turn']}_{k + 1}"
                turns.append({key: _map_images(v, key, images.write, stem) for key, v in t.items()})
        rows_by_file.setdefault(fname, []).append(sample_row(sample, paths, turns))
        if progress and (done % 1000 == 0 or done == total):
            progress(done, total)
    for fname, rows in rows_by_file.items():
        path = out / fname
        if fname.endswith(".jsonl"):
            with path.open("w", encoding="utf-8") as fh:
                for r in rows:
                    fh.write(json.dumps(r, ensure_ascii=False) + "\n")
        else:
            path.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
        report.files[fname] = len(rows)
    return report
