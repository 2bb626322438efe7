"""How far to trust a judge: its verdicts set beside the human votes on the same pairs.

Labels are item-side winners with "tie (bothbad)" folded into "tie" (a judge says only A, B or tie).

- agreement with the human majority: share of pairs with a strict human plurality where the judge's
  verdict equals it (Wilson 95% interval);
- Cohen's κ of the judge against each annotator on the pairs both labelled; ``cohen_kappa`` is their
  mean over annotators;
- ``human_kappa``: the mean Cohen's κ over pairs of annotators on the pairs both labelled — computed the
  same way, so the two numbers can be set side by side (a judge is as good as a person when its κ
  with people reaches the people's κ with each other);
- position consistency: share of judged pairs whose verdict did not flip with the order (Wilson).

κ intervals are percentile bootstraps over pairs.
"""
from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, Callable, Iterable, Sequence

from studio.annotation.agreement import cohen_kappa
from studio.annotation.stats import wilson_interval

HUMAN_LABELS = {"model_a": "model_a", "model_b": "model_b", "tie": "tie", "tie (bothbad)": "tie"}


@dataclass
class PairLabels:
    """One pair: the judge's item-side label (None when it has none), its position consistency, and each
    annotator's label."""

    key: str
    judge: str | None
    consistent: bool | None = None
    humans: dict[str, str] = field(default_factory=dict)
    group: str = ""


def human_label(winner: str) -> str | None:
    return HUMAN_LABELS.get(str(winner).strip())


def majority(labels: Iterable[str]) -> str | None:
    """The strict plurality label, or None when the top labels tie."""
    counts = Counter(labels).most_common()
    if not counts or (len(counts) > 1 and counts[0][1] == counts[1][1]):
        return None
    return counts[0][0]


def _kappa(pairs: Sequence[tuple[str, str]]) -> float | None:
    if not pairs:
        return None
    k = cohen_kappa([a for a, _ in pairs], [b for _, b in pairs])
    return None if math.isnan(k) else k


def _mean(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def judge_kappas(rows: Sequence[PairLabels], min_shared: int = 2) -> dict[str, tuple[float | None, int]]:
    """annotator -> (κ of the judge against them, shared pairs), for annotators with >= min_shared pairs."""
    shared: dict[str, list[tuple[str, str]]] = {}
    for r in rows:
        if r.judge is None:
            continue
        for ann, lab in r.humans.items():
            shared.setdefault(ann, []).append((r.judge, lab))
    return {a: (_kappa(p), len(p)) for a, p in sorted(shared.items()) if len(p) >= min_shared}


def human_kappas(rows: Sequence[PairLabels], min_shared: int = 2) -> dict[tuple[str, str], tuple[float | None, int]]:
    """(annotator, annotator) -> (their Cohen's κ, shared pairs)."""
    shared: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for r in rows:
        for p, q in combinations(sorted(r.humans), 2):
            shared.setdefault((p, q), []).append((r.humans[p], r.humans[q]))
    return {k: (_kappa(v), len(v)) for k, v in sorted(shared.items()) if len(v) >= min_shared}


def _bootstrap(rows: Sequence[PairLabels], stat: Callable[[Sequence[PairLabels]], float | None],
               rounds: int, seed: int) -> list[float] | None:
    if rounds <= 0 or len(rows) < 2:
        return None
    rng = random.Random(seed)
    values = []
    for _ in range(rounds):
        v = stat([rows[rng.randrange(len(rows))] for _ in rows])
        if v is not None:
            values.append(v)
    if len(values) < rounds // 2:
        return None
    values.sort()
    lo = values[int(0.025 * (len(values) - 1))]
    hi = values[int(math.ceil(0.975 * (len(values) - 1)))]
    return [round(lo, 4), round(hi, 4)]


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 4)


def report(rows: Sequence[PairLabels], *, min_shared: int = 2, bootstrap: int = 200, seed: int = 0) -> dict[str, Any]:
    """The trust figures of one set of pairs (see the module docstring)."""
    judged = [r for r in rows if r.judge is not None]
    with_majority = [(r, majority(r.humans.values())) for r in judged if r.humans]
    with_majority = [(r, m) for r, m in with_majority if m is not None]
    hits = sum(1 for r, m in with_majority if r.judge == m)
    n_major = len(with_majority)
    consistent = [r.consistent for r in judged if r.consistent is not None]

    def judge_k(sub: Sequence[PairLabels]) -> float | None:
        return _mean(k for k, _ in judge_kappas(sub, min_shared).values())

    def human_k(sub: Sequence[PairLabels]) -> float | None:
        return _mean(k for k, _ in human_kappas(sub, min_shared).values())

    per_annotator = [{"annotator": a, "kappa": _r(k), "shared_pairs": n}
                     for a, (k, n) in judge_kappas(judged, min_shared).items()]
    jk, hk = judge_k(judged), human_k(rows)
    agree = hits / n_major if n_major else None
    pc = sum(consistent) / len(consistent) if consistent else None
    return {
        "pairs": len(rows),
        "judged": len(judged),
        "agreement_with_humans": _r(agree),
        "agreement_ci": [round(x, 4) for x in wilson_interval(hits, n_major)] if n_major else None,
        "pairs_with_majority": n_major,
        "cohen_kappa": _r(jk),
        "cohen_kappa_ci": _bootstrap(judged, judge_k, bootstrap, seed) if jk is not None else None,
        "per_annotator": per_annotator,
        "human_kappa": _r(hk),
        "human_kappa_ci": _bootstrap(rows, human_k, bootstrap, seed) if hk is not None else None,
        "annotator_pairs": len(human_kappas(rows, min_shared)),
        "position_consistency": _r(pc),
        "position_consistency_ci": ([round(x, 4) for x in wilson_interval(sum(consistent), len(consistent))]
                                    if consistent else None),
        "position_inconsistent": sum(1 for c in consistent if not c),
        "as_good_as_humans": None if jk is None or hk is None else jk >= hk,
    }


def report_by_group(rows: Sequence[PairLabels], **kw: Any) -> dict[str, dict[str, Any]]:
    """``report`` for all pairs ("(all)") and for each taxonomy node with pairs, a node counting the pairs
    of its whole subtree ("gen" holds "gen/color" and "gen/count")."""
    out = {"(all)": report(rows, **kw)}
    groups: dict[str, list[PairLabels]] = {}
    for r in rows:
        parts = r.group.split("/") if r.group else []
        for depth in range(1, len(parts) + 1):
            groups.setdefault("/".join(parts[:depth]), []).append(r)
    for g in sorted(groups):
        out[g] = report(groups[g], **kw)
    return out
