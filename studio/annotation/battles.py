"""Battles: the one shape every statistic reads, built from the studio's votes or an arena JSONL.

A battle is (model_a, model_b, winner) with winner in {model_a, model_b, tie, tie (bothbad)}, plus
optional context (judge, question/item id, timestamp, task, taxonomy node, shown order, latency).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from studio.annotation import AnnotationError

WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)")
A_WINS, B_WINS, TIE, TIE_BAD = range(4)
_WINNER_CODE = {w: i for i, w in enumerate(WINNERS)}
_WINNER_ALIASES = {"tie(bothbad)": "tie (bothbad)", "tie_bad": "tie (bothbad)", "tie (both bad)": "tie (bothbad)",
                   "bothbad": "tie (bothbad)", "a": "model_a", "b": "model_b"}


@dataclass
class Battles:
    """Column arrays over battles; ``models`` maps the integer codes in ``a``/``b`` to names."""

    models: list[str]
    a: np.ndarray
    b: np.ndarray
    outcome: np.ndarray
    judge: list[str] = field(default_factory=list)
    item: list[str] = field(default_factory=list)
    tstamp: np.ndarray = field(default_factory=lambda: np.zeros(0))
    task: list[str] = field(default_factory=list)
    taxonomy: list[str] = field(default_factory=list)
    #: 1 when model_a was shown on the left, 0 on the right, -1 unknown
    a_on_left: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int8))
    latency_ms: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __len__(self) -> int:
        return int(self.a.shape[0])

    def subset(self, mask: np.ndarray) -> "Battles":
        """The battles where ``mask`` is true (same model list)."""
        idx = np.flatnonzero(mask)
        pick = lambda seq: [seq[i] for i in idx] if seq else []  # noqa: E731
        return Battles(self.models, self.a[idx], self.b[idx], self.outcome[idx], pick(self.judge),
                       pick(self.item), self.tstamp[idx], pick(self.task), pick(self.taxonomy),
                       self.a_on_left[idx], self.latency_ms[idx])


def normalize_winner(value: Any) -> str:
    """Accept the arenas' spellings; raise for anything else."""
    w = str(value).strip().lower()
    w = _WINNER_ALIASES.get(w, w)
    if w not in _WINNER_CODE:
        raise AnnotationError(f"winner must be one of {', '.join(WINNERS)}, got {value!r}")
    return w


def build_battles(rows: Iterable[dict[str, Any]], *, skip_self: bool = True) -> Battles:
    """Battles from dicts with model_a, model_b, winner (+ optional judge, question_id, tstamp ...)."""
    index: dict[str, int] = {}
    a, b, out, ts, left, lat = [], [], [], [], [], []
    judge, item, task, tax = [], [], [], []
    for row in rows:
        ma, mb = str(row["model_a"]), str(row["model_b"])
        if skip_self and ma == mb:
            continue
        a.append(index.setdefault(ma, len(index)))
        b.append(index.setdefault(mb, len(index)))
        out.append(_WINNER_CODE[normalize_winner(row["winner"])])
        judge.append(str(row.get("judge") or ""))
        item.append(str(row.get("question_id") or row.get("item_id") or ""))
        t = row.get("tstamp")
        ts.append(float(t) if isinstance(t, (int, float)) else np.nan)
        task.append(str(row.get("task") or ""))
        tax.append(str(row.get("taxonomy_id") or ""))
        al = row.get("a_on_left")
        left.append(-1 if al is None else int(bool(al)))
        lm = row.get("latency_ms")
        lat.append(float(lm) if isinstance(lm, (int, float)) else np.nan)
    return Battles(
        models=list(index), a=np.asarray(a, dtype=np.int64), b=np.asarray(b, dtype=np.int64),
        outcome=np.asarray(out, dtype=np.int8), judge=judge, item=item, tstamp=np.asarray(ts, dtype=float),
        task=task, taxonomy=tax, a_on_left=np.asarray(left, dtype=np.int8), latency_ms=np.asarray(lat, dtype=float),
    )


def read_battles_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Rows of an arena-style battles file (JSON lines, or one JSON array); errors name the line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AnnotationError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise AnnotationError(f"{path}: not UTF-8 text") from None
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            records = json.loads(stripped)
        except ValueError as exc:
            raise AnnotationError(f"{path}: not valid JSON ({exc})") from None
        numbered = list(enumerate(records, 1))
    else:
        numbered = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                numbered.append((n, json.loads(line)))
            except ValueError as exc:
                raise AnnotationError(f"{path}:{n}: not valid JSON ({exc.msg})") from None
    rows = []
    for n, rec in numbered:
        if not isinstance(rec, dict):
            raise AnnotationError(f"{path}:{n}: expected an object with model_a, model_b, winner")
        missing = [k for k in ("model_a", "model_b", "winner") if rec.get(k) in (None, "")]
        if missing:
            raise AnnotationError(f"{path}:{n}: missing {', '.join(missing)}")
        try:
            rec = {**rec, "winner": normalize_winner(rec["winner"])}
        except AnnotationError as exc:
            raise AnnotationError(f"{path}:{n}: {exc}") from None
        rows.append(rec)
    if not rows:
        raise AnnotationError(f"{path}: no battles in the file")
    return rows
