"""Preference pairs to and from a folder in Pick-a-Pic's layout (see finetune.preference_data).

Export writes ``pairs.jsonl`` (columns ``caption``, ``jpg_0``, ``jpg_1``, ``label_0``, ``label_1``,
plus ``source_image``, ``weight``, ``taxonomy_id`` where known) and copies the images under
``images/``; import reads such a folder back as :class:`Pair` records. Image paths inside a folder
are confined to it, so an imported file cannot point the trainer at arbitrary files.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from finetune.preference_data import PAIRS_FILE


class PairFileError(ValueError):
    """The folder or a row cannot be read as Pick-a-Pic pairs; the message says which and why."""


@dataclass
class Pair:
    """One preference: ``image_0``/``image_1`` are file paths; ``label_0`` is 1 (0 wins), 0 (1 wins), 0.5 (tie)."""

    caption: str
    image_0: str
    image_1: str
    label_0: float
    source_image: str | None = None
    weight: float = 1.0
    taxonomy_id: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def label_1(self) -> float:
        return 1.0 - self.label_0


def _copy(src: str, images: Path) -> str:
    """Copy one image into ``images/`` under its own name (content-addressed names stay unique)."""
    path = Path(src)
    if not path.is_file():
        raise PairFileError(f"image {path} does not exist; the pair cannot be exported")
    target = images / path.name
    if not target.exists():
        shutil.copyfile(path, target)
    return f"images/{path.name}"


def write_pairs(pairs: Iterable[Pair], out_dir: str | Path) -> Path:
    """Write ``pairs.jsonl`` and the images to ``out_dir``; returns the pairs file."""
    out = Path(out_dir)
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    path = out / PAIRS_FILE
    with path.open("w", encoding="utf-8") as fh:
        for p in pairs:
            row = {"caption": p.caption, "jpg_0": _copy(p.image_0, images), "jpg_1": _copy(p.image_1, images),
                   "label_0": float(p.label_0), "label_1": float(p.label_1), "weight": float(p.weight)}
            if p.source_image:
                row["source_image"] = _copy(p.source_image, images)
            if p.taxonomy_id:
                row["taxonomy_id"] = p.taxonomy_id
            row.update({k: v for k, v in p.extra.items() if k not in row})
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def _inside(folder: Path, rel: object, what: str, line: int) -> str:
    if not isinstance(rel, str) or not rel:
        raise PairFileError(f"line {line}: {what} must be a path relative to the folder")
    path = (folder / rel).resolve()
    if folder.resolve() not in path.parents:
        raise PairFileError(f"line {line}: {what} {rel!r} points outside the folder")
    return str(path)


def read_pairs(folder: str | Path) -> list[Pair]:
    """The pairs of a Pick-a-Pic-layout folder (``pairs.jsonl`` with image paths inside the folder)."""
    folder = Path(folder)
    path = folder / PAIRS_FILE
    if not path.is_file():
        raise PairFileError(f"{folder} has no {PAIRS_FILE}")
    pairs = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            label_0 = float(raw["label_0"])
        except (ValueError, KeyError, TypeError) as exc:
            raise PairFileError(f"line {i}: not a Pick-a-Pic row ({exc})") from None
        if label_0 not in (0.0, 0.5, 1.0):
            raise PairFileError(f"line {i}: label_0 must be 1, 0 or 0.5 (a tie), got {label_0}")
        source = raw.get("source_image")
        pairs.append(Pair(
            caption=str(raw.get("caption") or ""), image_0=_inside(folder, raw.get("jpg_0"), "jpg_0", i),
            image_1=_inside(folder, raw.get("jpg_1"), "jpg_1", i), label_0=label_0,
            source_image=_inside(folder, source, "source_image", i) if source else None,
            weight=float(raw.get("weight", 1.0)), taxonomy_id=raw.get("taxonomy_id")))
    return pairs
