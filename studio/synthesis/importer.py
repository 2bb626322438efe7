"""Import datasets in the ShareGPT-4o-Image, OpenGPT-4o-Image or studio layouts.

A path is a JSON file (array or JSON Lines), or a folder holding the layouts' files. Rows need
``input_prompt``; ``input_image`` (list or string) and ``output_image`` are paths relative to the JSON
file's folder — a path that escapes that folder is refused, a missing or non-image file is reported.
Problems are reported per file, row (line for JSON Lines) and field. By default nothing is imported
when any row is bad; with ``good_rows_only`` the good rows are imported and the bad ones reported.
The studio's extra fields (id, task, taxonomy, ...) are restored when present, so an export imported
into an empty database gives back the same samples. Image files are checked by their header (format
and pixel limit) and copied into the content-addressed store.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from PIL import Image, UnidentifiedImageError
from sqlalchemy import select

from studio.db import new_id, utcnow
from studio.db.models import Sample, StoredImage
from studio.images import ALLOWED_FORMATS, StoredFile
from studio.samples import TASKS
from studio.synthesis.export import IMAGE_KEYS

KNOWN_FILES = ("text_to_image.json", "text_and_image_to_image.json", "gen.json", "editing.json",
               "multi_turn_edit.json", "multi_turn.json", "reasoning.json", "samples.jsonl")
CHUNK = 2000


class ImportFailed(ValueError):
    """Nothing could be imported (unreadable path, malformed file); the message says where."""


@dataclass
class ImportIssue:
    file: str
    row: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = self.file + (f" row {self.row}" if self.row is not None else "")
        return f"{where}" + (f", field '{self.field}'" if self.field else "") + f": {self.message}"


@dataclass
class ImportReport:
    rows_seen: int = 0
    imported: int = 0
    skipped_existing: int = 0
    images: int = 0
    issues: list[ImportIssue] = field(default_factory=list)
    applied: bool = False

    def summary(self) -> str:
        head = (f"imported {self.imported} of {self.rows_seen} rows ({self.images} new images)"
                if self.applied else f"imported nothing: {len(self.issues)} problem(s) in {self.rows_seen} rows")
        if self.skipped_existing:
            head += f"; {self.skipped_existing} already in the database (skipped)"
        if self.issues and self.applied:
            head += f"; {len(self.issues)} bad row(s) left out"
        return head


def find_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        files = [path / n for n in KNOWN_FILES if (path / n).is_file()]
        if not files:
            files = sorted(p for p in path.iterdir() if p.suffix in (".json", ".jsonl") and p.is_file())
        if not files:
            raise ImportFailed(f"{path}: no dataset file (expected one of {', '.join(KNOWN_FILES)})")
        return files
    raise ImportFailed(f"{path}: no such file or folder")


def read_rows(file: Path) -> tuple[list[tuple[int, Any]], list[ImportIssue]]:
    """(row number, parsed value) pairs; a JSON array counts rows from 1, JSON Lines by line number."""
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ImportFailed(f"{file.name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ImportFailed(f"{file.name}: cannot read ({exc.strerror})") from None
    stripped = text.lstrip()
    if not stripped:
        raise ImportFailed(f"{file.name}: the file is empty")
    issues: list[ImportIssue] = []
    if stripped[0] == "[":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ImportFailed(f"{file.name}: not valid JSON at line {exc.lineno}, column {exc.colno} ({exc.msg})") from None
        return list(enumerate(data, start=1)), issues
    rows = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append((lineno, json.loads(line)))
        except json.JSONDecodeError as exc:
            issues.append(ImportIssue(file.name, lineno, None, f"not valid JSON ({exc.msg} at column {exc.colno})"))
    return rows, issues


def _task_for(file: Path, row: dict[str, Any]) -> str:
    task = row.get("task")
    if isinstance(task, str) and task in TASKS:
        return task
    name = file.name
    if "multi_turn" in name:
        return "multi-turn-edit"
    if "reasoning" in name:
        return "reasoning"
    return "edit" if row.get("input_image") else "text-to-image"


class _Images:
    """Checks and stores referenced image files once per path."""

    def __init__(self, studio, base: Path) -> None:
        self.studio, self.base = studio, base.resolve()
        self.cache: dict[Path, tuple[str, StoredFile] | str] = {}
        self.by_text: dict[str, tuple[str | None, str | None, StoredFile | None]] = {}
        self.max_pixels = studio.settings.max_image_pixels

    def check(self, rel: Any) -> tuple[str | None, str | None, StoredFile | None]:
        """(sha, error, record) for a relative path (each distinct path is checked once)."""
        if not isinstance(rel, str) or not rel.strip():
            return None, "expected a relative file path (text)", None
        hit = self.by_text.get(rel)
        if hit is None:
            hit = self.by_text[rel] = self._check(rel)
        return hit

    def _check(self, rel: str) -> tuple[str | None, str | None, StoredFile | None]:
        p = Path(rel)
        if p.is_absolute():
            return None, f"absolute path {rel!r} refused: paths must be relative to the dataset folder", None
        full = (self.base / p).resolve()
        if full != self.base and self.base not in full.parents:
            return None, f"path {rel!r} escapes the dataset folder (refused)", None
        hit = self.cache.get(full)
        if isinstance(hit, str):
            return None, hit, None
        if hit is not None:
            return hit[0], None, hit[1]
        err = None
        try:
            data = full.read_bytes()
        except FileNotFoundError:
            err = f"image file {rel!r} is missing"
        except OSError as exc:
            err = f"image file {rel!r} cannot be read ({exc.strerror})"
        if err is None:
            try:
                import io
                with Image.open(io.BytesIO(data)) as probe:
                    fmt, (w, h) = probe.format, probe.size
            except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
                fmt, w, h = None, 0, 0
            if fmt not in ALLOWED_FORMATS:
                err = f"{rel!r} is not a supported image file"
            elif w * h > self.max_pixels:
                err = f"{rel!r} is {w}×{h} pixels, over the {self.max_pixels:,} pixel limit"
        if err is not None:
            self.cache[full] = err
            return None, err, None
        f = self.studio.images.put_bytes(data, fmt=fmt, size=(w, h))
        self.cache[full] = (f.sha256, f)
        return f.sha256, None, f


def _parse_time(v: Any) -> datetime | None:
    if isinstance(v, str):
        try:
            return datetime.fromisoformat(v)
        except ValueError:
            return None
    return None


def _convert_row(file: Path, num: int, row: Any, images: _Images, dataset: str | None,
                 issues: list[ImportIssue], new_images: dict[str, StoredFile]) -> dict[str, Any] | None:
    name = file.name
    if not isinstance(row, dict):
        issues.append(ImportIssue(name, num, None, f"expected an object, got {type(row).__name__}"))
        return None
    bad = False
    prompt = row.get("input_prompt", row.get("prompt"))
    if not isinstance(prompt, str):
        issues.append(ImportIssue(name, num, "input_prompt", "missing or not text"))
        bad = True
    ins = row.get("input_image", [])
    if isinstance(ins, str):
        ins = [ins]
    if not isinstance(ins, list):
        issues.append(ImportIssue(name, num, "input_image", "expected a list of relative paths"))
        bad, ins = True, []
    in_shas = []
    for i, rel in enumerate(ins):
        sha, err, rec = images.check(rel)
        if err:
            issues.append(ImportIssue(name, num, f"input_image[{i}]", err))
            bad = True
        else:
            in_shas.append(sha)
            new_images[sha] = rec
    out_sha = None
    if row.get("output_image") is not None:
        out_sha, err, rec = images.check(row["output_image"])
        if err:
            issues.append(ImportIssue(name, num, "output_image", err))
            bad = True
        else:
            new_images[out_sha] = rec
    turns = row.get("turns")
    if turns is not None:
        if not isinstance(turns, list) or not all(isinstance(t, dict) for t in turns):
            issues.append(ImportIssue(name, num, "turns", "expected a list of objects"))
            bad, turns = True, None
        else:
            fixed = []
            for k, t in enumerate(turns):
                ft = dict(t)
                for key in IMAGE_KEYS:
                    vals = t.get(key)
                    if vals is None:
                        continue
                    as_list = vals if isinstance(vals, list) else [vals]
                    shas = []
                    for rel in as_list:
                        sha, err, rec = images.check(rel)
                        if err:
                            issues.append(ImportIssue(name, num, f"turns[{k}].{key}", err))
                            bad = True
                        else:
                            shas.append(sha)
                            new_images[sha] = rec
                    ft[key] = shas if isinstance(vals, list) else (shas[0] if shas else None)
                fixed.append(ft)
            turns = fixed
    for key, typ in (("attributes", dict), ("provenance", dict), ("llm", dict)):
        if row.get(key) is not None and not isinstance(row[key], typ):
            issues.append(ImportIssue(name, num, key, f"expected an object, got {type(row[key]).__name__}"))
            bad = True
    for key in ("seed", "difficulty"):
        if row.get(key) is not None and not isinstance(row[key], int):
            issues.append(ImportIssue(name, num, key, "expected an integer"))
            bad = True
    if bad:
        return None
    sid = row.get("id") if isinstance(row.get("id"), str) and 0 < len(row["id"]) <= 32 else new_id()
    return {
        "id": sid, "created_at": _parse_time(row.get("created_at")) or utcnow(),
        "task": _task_for(file, row), "taxonomy_id": row.get("taxonomy") if isinstance(row.get("taxonomy"), str) else None,
        "prompt": prompt, "input_images": in_shas, "output_image": out_sha, "turns": turns,
        "attributes": row.get("attributes") or {}, "seed": row.get("seed"), "backend": row.get("backend"),
        "method": row["method"] if "method" in row else "import", "difficulty": row.get("difficulty"),
        "source": row.get("source") or "import",
        "dataset": dataset or (row.get("dataset") if isinstance(row.get("dataset"), str) else None) or file.parent.name[:128] or "import",
        "provenance": row["provenance"] if isinstance(row.get("provenance"), dict) else {"imported_from": str(file), "row": num},
        "llm": row.get("llm"),
    }


def import_dataset(studio, path: str | Path, *, good_rows_only: bool = False, dataset: str | None = None,
                   progress: Callable[[int, int], None] | None = None) -> ImportReport:
    """Import a dataset file or folder; see the module docstring for the rules."""
    path = Path(path)
    files = find_files(path)
    report = ImportReport()
    parsed: list[tuple[Path, list[tuple[int, Any]]]] = []
    for f in files:
        rows, issues = read_rows(f)
        parsed.append((f, rows))
        report.issues.extend(issues)
        report.rows_seen += len(rows) + len(issues)
    total = report.rows_seen
    good: list[dict[str, Any]] = []
    new_images: dict[str, StoredFile] = {}
    done = len(report.issues)
    for f, rows in parsed:
        imgs = _Images(studio, f.parent)
        for num, row in rows:
            rec = _convert_row(f, num, row, imgs, dataset, report.issues, new_images)
            if rec is not None:
                good.append(rec)
            done += 1
            if progress and (done % 1000 == 0 or done == total):
                progress(done, total)
    if report.issues and not good_rows_only:
        return report
    with studio.db.session() as s:
        have_imgs = set()
        keys = list(new_images)
        for i in range(0, len(keys), CHUNK):
            have_imgs.update(x for (x,) in s.execute(select(StoredImage.sha256).where(
                StoredImage.sha256.in_(keys[i:i + CHUNK]))))
        fresh = [new_images[k] for k in keys if k not in have_imgs]
        for i in range(0, len(fresh), CHUNK):
            studio.samples.record_files(fresh[i:i + CHUNK], conn=s)
        report.images = len(fresh)
        ids = [r["id"] for r in good]
        existing: set[str] = set()
        for i in range(0, len(ids), CHUNK):
            existing.update(x for (x,) in s.execute(select(Sample.id).where(Sample.id.in_(ids[i:i + CHUNK]))))
        seen: set[str] = set()
        todo = []
        for r in good:
            if r["id"] in existing or r["id"] in seen:
                report.skipped_existing += 1
                continue
            seen.add(r["id"])
            todo.append(r)
        for i in range(0, len(todo), CHUNK):
            studio.samples.add_many(todo[i:i + CHUNK], conn=s)
        report.imported = len(todo)
    report.applied = True
    return report


def content_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
