"""Quality checks on the votes: agreement (Cohen's kappa, Krippendorff's alpha), position bias,
per-annotator speed and outliers. Labels compared are the item-side winners (not the shown side)."""
from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from itertools import combinations
from typing import Hashable, Iterable

import numpy as np

from studio.annotation.battles import A_WINS, B_WINS, Battles
from studio.annotation.stats import wilson_interval


def cohen_kappa(x: list[Hashable], y: list[Hashable]) -> float:
    """Cohen's kappa of two raters over the same units (NaN when chance agreement is 1)."""
    if len(x) != len(y) or not x:
        raise ValueError("two equally long, non-empty label lists are needed")
    n = len(x)
    observed = sum(1 for a, b in zip(x, y) if a == b) / n
    cx, cy = Counter(x), Counter(y)
    expected = sum(cx[c] * cy.get(c, 0) for c in cx) / (n * n)
    if expected >= 1.0:
        return float("nan")
    return (observed - expected) / (1.0 - expected)


def krippendorff_alpha_nominal(units: Iterable[Iterable[Hashable]]) -> float:
    """Krippendorff's alpha (nominal) from each unit's values; units with < 2 values are ignored."""
    coincidence: dict[tuple[Hashable, Hashable], float] = defaultdict(float)
    for values in units:
        vals = [v for v in values if v is not None]
        m = len(vals)
        if m < 2:
            continue
        for p, q in ((p, q) for ip, p in enumerate(vals) for iq, q in enumerate(vals) if ip != iq):
            coincidence[(p, q)] += 1.0 / (m - 1)
    totals: dict[Hashable, float] = defaultdict(float)
    for (p, _q), w in coincidence.items():
        totals[p] += w
    n = sum(totals.values())
    if n <= 1:
        return float("nan")
    disagree = sum(w for (p, q), w in coincidence.items() if p != q)
    expected = sum(totals[p] * totals[q] for p in totals for q in totals if p != q)
    if expected == 0:
        return float("nan")
    return 1.0 - (n - 1) * disagree / expected


def _labels_by_item(battles: Battles) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for k, (item, judge) in enumerate(zip(battles.item, battles.judge)):
        if item and judge:
            out[item][judge] = int(battles.outcome[k])
    return out


@dataclass
class Agreement:
    """Inter-annotator agreement on items judged by two or more people."""

    overlapping_items: int
    alpha: float
    pairs: list[dict] = field(default_factory=list)  # annotator pair -> kappa and shared items


def agreement(battles: Battles, min_shared: int = 5) -> Agreement:
    """Krippendorff's alpha over all overlapping items and Cohen's kappa per annotator pair."""
    by_item = _labels_by_item(battles)
    multi = {i: j for i, j in by_item.items() if len(j) >= 2}
    alpha = krippendorff_alpha_nominal(list(j.values()) for j in multi.values())
    shared: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for judges in multi.values():
        for p, q in combinations(sorted(judges), 2):
            shared[(p, q)].append((judges[p], judges[q]))
    pairs = []
    for (p, q), labels in sorted(shared.items()):
        if len(labels) >= min_shared:
            kappa = cohen_kappa([a for a, _ in labels], [b for _, b in labels])
            pairs.append({"annotator_1": p, "annotator_2": q, "shared_items": len(labels),
                          "kappa": None if np.isnan(kappa) else round(kappa, 4)})
    return Agreement(len(multi), alpha, pairs)


def position_bias(battles: Battles) -> dict:
    """Share of decisive votes for the left side, with a Wilson interval (0.5 means no bias)."""
    known = battles.a_on_left >= 0
    decisive = known & ((battles.outcome == A_WINS) | (battles.outcome == B_WINS))
    left_won = decisive & (((battles.outcome == A_WINS) & (battles.a_on_left == 1))
                           | ((battles.outcome == B_WINS) & (battles.a_on_left == 0)))
    n, k = int(decisive.sum()), int(left_won.sum())
    lo, hi = wilson_interval(k, n)
    return {"decisive_votes": n, "left_votes": k, "left_share": round(k / n, 4) if n else None,
            "ci": [round(lo, 4), round(hi, 4)]}


def annotator_report(battles: Battles) -> list[dict]:
    """Per annotator: votes, median seconds per vote, left share, agreement with the item majority, flags.

    Flagged as outliers: a median time under a third of everyone's median (too fast to look), a
    left share whose 95% interval excludes one half (always picks a side), or a majority agreement
    more than two standard deviations under the annotators' mean.
    """
    judges = sorted({j for j in battles.judge if j})
    by_item = _labels_by_item(battles)
    majority_hits: dict[str, list[int]] = defaultdict(list)
    for judges_labels in by_item.values():
        if len(judges_labels) < 3:
            continue
        for j, lab in judges_labels.items():
            others = Counter(v for k, v in judges_labels.items() if k != j)
            top, top_n = others.most_common(1)[0]
            if list(others.values()).count(top_n) == 1:
                majority_hits[j].append(int(lab == top))
    judge_arr = np.asarray(battles.judge, dtype=object) if battles.judge else np.zeros(0, dtype=object)
    all_lat = battles.latency_ms[~np.isnan(battles.latency_ms)]
    overall_median = float(np.median(all_lat)) if all_lat.size else None
    rows = []
    for j in judges:
        mine = judge_arr == j
        sub = battles.subset(mine)
        lat = sub.latency_ms[~np.isnan(sub.latency_ms)]
        pb = position_bias(sub)
        hits = majority_hits.get(j, [])
        rows.append({
            "annotator": j, "votes": int(mine.sum()),
            "median_seconds": round(float(np.median(lat)) / 1000.0, 2) if lat.size else None,
            "left_share": pb["left_share"], "left_ci": pb["ci"],
            "majority_agreement": round(sum(hits) / len(hits), 4) if hits else None,
            "flags": [],
        })
    agreements = [r["majority_agreement"] for r in rows if r["majority_agreement"] is not None]
    mean = statistics.fmean(agreements) if len(agreements) >= 3 else None
    sd = statistics.pstdev(agreements) if len(agreements) >= 3 else None
    for r in rows:
        if overall_median and r["median_seconds"] is not None and r["median_seconds"] * 1000 < overall_median / 3:
            r["flags"].append("fast")
        if r["left_ci"][0] > 0.5 or r["left_ci"][1] < 0.5:
            r["flags"].append("side bias")
        if mean is not None and sd and r["majority_agreement"] is not None and r["majority_agreement"] < mean - 2 * sd:
            r["flags"].append("low agreement")
    return rows
