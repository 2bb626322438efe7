"""Per-backend and per-taxonomy-node aggregates of pointwise scores (only ``ok`` items count)."""
from __future__ import annotations

import math
from typing import Any, Iterable, Mapping


def _summary(values: list[dict[str, float]], total: int) -> dict[str, Any]:
    out: dict[str, Any] = {"items": total, "scored": len(values)}
    keys = sorted({k for v in values for k in v})
    for k in keys:
        xs = [v[k] for v in values if k in v]
        mean = sum(xs) / len(xs)
        sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0
        half = 1.96 * sd / math.sqrt(len(xs)) if len(xs) > 1 else 0.0
        out[k] = {"mean": round(mean, 4), "ci": [round(mean - half, 4), round(mean + half, 4)], "n": len(xs)}
    return out


def aggregate(items: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """``{"all": ..., "by_model": {...}, "by_taxonomy": {...}}`` of each aggregate key's mean (normal 95%
    interval) over items with status ok; ``items``/``scored`` count all items and the counted ones."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for it in items:
        groups.setdefault(("all", ""), []).append(it)
        if it.get("model"):
            groups.setdefault(("by_model", it["model"]), []).append(it)
        if it.get("taxonomy_id"):
            groups.setdefault(("by_taxonomy", it["taxonomy_id"]), []).append(it)
    out: dict[str, Any] = {"all": {"items": 0, "scored": 0}, "by_model": {}, "by_taxonomy": {}}
    for (kind, key), rows in sorted(groups.items()):
        ok = [dict(r.get("aggregate") or {}) for r in rows if r.get("status") == "ok"]
        summary = _summary(ok, len(rows))
        if kind == "all":
            out["all"] = summary
        else:
            out[kind][key] = summary
    return out
