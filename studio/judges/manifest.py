"""Manifests a judge reads headless: the comparison manifest of the Annotate import (one pair per row,
optionally with a human ``winner`` and an annotator column ``judge``) and image lists to score.

Pair rows: ``prompt``, optional ``source_image``, ``output_a``/``model_a``, ``output_b``/``model_b``,
optional ``taxonomy_id``, ``winner`` (model_a | model_b | tie | tie (bothbad)), ``judge`` (the annotator)
and GenEval ``metadata`` (or ``include``/``exclude`` on the row). Rows naming the same two outputs for the
same prompt are one pair judged by several people. Score rows: ``prompt`` and ``image`` (or ``output``),
or a pair row (both outputs are scored). Paths are relative to the manifest. Every image is read through
the safe loader; any bad row stops the whole file and the error lists the rows.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from studio.annotation.importer import ALIASES
from studio.images import ImageLoadError, load_image
from studio.judges import JudgeError
from studio.judges.trust import human_label

SCORE_IMAGE = ("image", "output", "image_path", "file_name")


@dataclass
class PairRow:
    key: str
    rows: list[int]
    prompt: str
    a: Image.Image
    b: Image.Image
    model_a: str
    model_b: str
    sources: list[Image.Image] = field(default_factory=list)
    taxonomy_id: str = ""
    metadata: dict[str, Any] | None = None
    humans: dict[str, str] = field(default_factory=dict)


@dataclass
class ScoreRow:
    key: str
    row: int
    prompt: str
    image: Image.Image
    model: str = ""
    sources: list[Image.Image] = field(default_factory=list)
    taxonomy_id: str = ""
    metadata: dict[str, Any] | None = None


def read_rows(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise JudgeError(f"{path}: cannot read the manifest ({exc})") from None
    if path.suffix.lower() == ".csv":
        return list(csv.DictReader(io.StringIO(text)))
    try:
        if text.lstrip().startswith("["):
            rows = json.loads(text)
        else:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    except ValueError as exc:
        raise JudgeError(f"{path.name}: not valid JSON lines ({exc})") from None
    if not rows:
        raise JudgeError(f"{path.name}: the manifest has no rows")
    return rows


def _pick(rec: dict[str, Any], name: str) -> Any:
    for key in ALIASES.get(name, (name,)):
        value = rec.get(key)
        if isinstance(value, list):
            value = value[0] if value else None
        if value not in (None, ""):
            return value
    return None


class _Images:
    def __init__(self, base: Path, max_bytes: int, max_pixels: int) -> None:
        self.base, self.max_bytes, self.max_pixels = base, max_bytes, max_pixels
        self.cache: dict[Path, Image.Image] = {}

    def __call__(self, rel: Any) -> Image.Image:
        path = (self.base / str(rel)).resolve()
        if path not in self.cache:
            self.cache[path] = load_image(path, max_bytes=self.max_bytes, max_pixels=self.max_pixels)
        return self.cache[path]


def _metadata(rec: dict[str, Any]) -> dict[str, Any] | None:
    meta = rec.get("metadata")
    if isinstance(meta, str) and meta.strip():
        meta = json.loads(meta)
    if meta is None and "include" in rec:
        meta = {k: rec[k] for k in ("tag", "include", "exclude", "prompt") if k in rec}
    return meta


def _fail(path: Path, problems: list[str]) -> None:
    if problems:
        more = f" (+{len(problems) - 10} more)" if len(problems) > 10 else ""
        raise JudgeError(f"{path.name}: nothing judged; fix these rows: " + "; ".join(problems[:10]) + more)


def read_pairs(path: str | Path, *, max_bytes: int = 25 << 20, max_pixels: int = 40_000_000) -> list[PairRow]:
    path = Path(path)
    load = _Images(path.parent, max_bytes, max_pixels)
    pairs: dict[tuple, PairRow] = {}
    problems: list[str] = []
    for n, rec in enumerate(read_rows(path), 1):
        try:
            if not isinstance(rec, dict):
                raise JudgeError("not an object")
            v = {f: _pick(rec, f) for f in ALIASES}
            missing = [f for f in ("prompt", "output_a", "model_a", "output_b", "model_b") if not v[f]]
            if missing:
                raise JudgeError(f"missing {', '.join(missing)}")
            winner = rec.get("winner")
            if winner not in (None, "") and human_label(winner) is None:
                raise JudgeError(f"winner must be model_a, model_b, tie or tie (bothbad), got {winner!r}")
            ident = (v["prompt"], v["source_image"], v["output_a"], v["output_b"], v["model_a"], v["model_b"])
            pair = pairs.get(ident)
            if pair is None:
                pair = pairs[ident] = PairRow(
                    f"row{n}", [], str(v["prompt"]), load(v["output_a"]), load(v["output_b"]), str(v["model_a"]),
                    str(v["model_b"]), [load(v["source_image"])] if v["source_image"] else [],
                    str(rec.get("taxonomy_id") or ""), _metadata(rec))
            pair.rows.append(n)
            if winner not in (None, ""):
                annotator = str(rec.get("judge") or rec.get("annotator") or f"annotator-row{n}")
                if annotator in pair.humans:
                    raise JudgeError(f"annotator {annotator!r} already voted on this pair (row {pair.rows[0]})")
                pair.humans[annotator] = human_label(winner)
        except (JudgeError, ImageLoadError, ValueError) as exc:
            problems.append(f"row {n}: {exc}")
    _fail(path, problems)
    return list(pairs.values())


def read_scores(path: str | Path, *, max_bytes: int = 25 << 20, max_pixels: int = 40_000_000) -> list[ScoreRow]:
    path = Path(path)
    load = _Images(path.parent, max_bytes, max_pixels)
    out: list[ScoreRow] = []
    problems: list[str] = []
    for n, rec in enumerate(read_rows(path), 1):
        try:
            if not isinstance(rec, dict):
                raise JudgeError("not an object")
            prompt = _pick(rec, "prompt")
            if not prompt:
                raise JudgeError("missing prompt")
            src = _pick(rec, "source_image")
            sources = [load(src)] if src else []
            common = dict(prompt=str(prompt), sources=sources, taxonomy_id=str(rec.get("taxonomy_id") or ""),
                          metadata=_metadata(rec))
            single = next((rec[k] for k in SCORE_IMAGE if rec.get(k)), None)
            if single:
                out.append(ScoreRow(f"row{n}", n, image=load(single), model=str(rec.get("model") or ""), **common))
            elif _pick(rec, "output_a") and _pick(rec, "output_b"):
                for side in ("a", "b"):
                    out.append(ScoreRow(f"row{n}{side}", n, image=load(_pick(rec, f"output_{side}")),
                                        model=str(_pick(rec, f"model_{side}") or ""), **common))
            else:
                raise JudgeError("missing image (or output_a and output_b)")
        except (JudgeError, ImageLoadError, ValueError) as exc:
            problems.append(f"row {n}: {exc}")
    _fail(path, problems)
    return out
