"""Win / tie / loss between model pairs with 95% Wilson intervals, overall and by task or taxonomy node.

Counts are from one model's side (``model``) against one other (``opponent``); both kinds of tie
count as ties here and are also reported apart (``ties_good`` / ``ties_bad``).
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from studio.annotation.battles import A_WINS, B_WINS, TIE, TIE_BAD, Battles

Z95 = 1.959963984540054


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials ((0, 1) when n == 0)."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class WinTieLoss:
    """One model against one opponent: counts, ratios and Wilson intervals of each ratio."""

    model: str
    opponent: str
    wins: int
    ties: int
    losses: int
    ties_good: int = 0
    ties_bad: int = 0
    group: str = ""

    @property
    def total(self) -> int:
        return self.wins + self.ties + self.losses

    def ratio(self, what: str) -> float:
        return getattr(self, what) / self.total if self.total else 0.0

    def interval(self, what: str) -> tuple[float, float]:
        return wilson_interval(getattr(self, what), self.total)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["total"] = self.total
        for what in ("wins", "ties", "losses"):
            lo, hi = self.interval(what)
            d[f"{what[:-1] if what != 'losses' else 'loss'}_ratio"] = round(self.ratio(what), 4)
            d[f"{what}_ci"] = [round(lo, 4), round(hi, 4)]
        return d


def win_tie_loss(battles: Battles, model: str, opponent: str, group: str = "") -> WinTieLoss:
    """Counts from ``model``'s side over every battle between the two (either orientation)."""
    names = {n: i for i, n in enumerate(battles.models)}
    if model not in names or opponent not in names:
        return WinTieLoss(model, opponent, 0, 0, 0, group=group)
    mi, oi = names[model], names[opponent]
    fwd = (battles.a == mi) & (battles.b == oi)
    rev = (battles.a == oi) & (battles.b == mi)
    out = battles.outcome
    wins = int(np.sum(fwd & (out == A_WINS)) + np.sum(rev & (out == B_WINS)))
    losses = int(np.sum(fwd & (out == B_WINS)) + np.sum(rev & (out == A_WINS)))
    good = int(np.sum((fwd | rev) & (out == TIE)))
    bad = int(np.sum((fwd | rev) & (out == TIE_BAD)))
    return WinTieLoss(model, opponent, wins, good + bad, losses, good, bad, group)


def all_pairs(battles: Battles, order: list[str] | None = None) -> list[WinTieLoss]:
    """Every pair that met, oriented so the model earlier in ``order`` (default: by name) is ``model``."""
    rank = {n: k for k, n in enumerate(order or sorted(battles.models))}
    met = set()
    for i, j in zip(battles.a.tolist(), battles.b.tolist()):
        x, y = battles.models[i], battles.models[j]
        met.add((x, y) if rank.get(x, 1 << 30) <= rank.get(y, 1 << 30) else (y, x))
    ordered = sorted(met, key=lambda p: (rank.get(p[0], 1 << 30), rank.get(p[1], 1 << 30), p))
    return [win_tie_loss(battles, x, y) for x, y in ordered]


def taxonomy_group(depth: int) -> Callable[[str], str]:
    """Maps a taxonomy id to its first ``depth`` path parts ('' -> 'unlabelled')."""
    def key(tid: str) -> str:
        return "/".join(tid.split("/")[:depth]) if tid else "unlabelled"
    return key


def breakdown(battles: Battles, model: str, opponent: str, by: str = "task",
              depth: int = 2) -> list[WinTieLoss]:
    """Win/tie/loss of ``model`` vs ``opponent`` per task ("task") or per taxonomy node ("taxonomy")."""
    labels = battles.task if by == "task" else [taxonomy_group(depth)(t) for t in battles.taxonomy]
    groups: dict[str, list[int]] = defaultdict(list)
    for k, lab in enumerate(labels):
        groups[lab or "unknown"].append(k)
    rows = []
    for lab in sorted(groups):
        mask = np.zeros(len(battles), dtype=bool)
        mask[groups[lab]] = True
        row = win_tie_loss(battles.subset(mask), model, opponent, group=lab)
        if row.total:
            rows.append(row)
    return rows


def chart_rows(rows: list[WinTieLoss]) -> list[dict]:
    """Long-form rows for a stacked bar (one bar per group or pair; Win / Tie / Loss shares in %)."""
    out = []
    for r in rows:
        label = r.group or f"{r.model} vs {r.opponent}"
        bar = f"{label} (n={r.total})"
        for what, name in (("wins", "Win"), ("ties", "Tie"), ("losses", "Loss")):
            out.append({"bar": bar, "outcome": name, "percent": round(100 * r.ratio(what), 2)})
    return out
