"""Where an added or moved object goes: free space, a named canvas position, or relative to another."""
from __future__ import annotations

import random
from typing import Any

Box = list[float]


def overlap(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(0.0, w) * max(0.0, h)


def clamp_box(box: Box, w: int, h: int) -> Box:
    """Shift (and if needed shrink) a box so it lies inside the canvas."""
    x0, y0, x1, y1 = box
    bw, bh = min(x1 - x0, w), min(y1 - y0, h)
    x0 = min(max(0.0, x0), w - bw)
    y0 = min(max(0.0, y0), h - bh)
    return [round(x0, 1), round(y0, 1), round(x0 + bw, 1), round(y0 + bh, 1)]


def box_at(cx: float, cy: float, bw: float, bh: float) -> Box:
    return [cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2]


def typical_size(scene: dict[str, Any]) -> float:
    """Median longer side of the scene's objects (or a third of the canvas when it is empty)."""
    sides = sorted(max(o["bbox"][2] - o["bbox"][0], o["bbox"][3] - o["bbox"][1]) for o in scene["objects"])
    if not sides:
        return min(scene["width"], scene["height"]) * 0.33
    return min(sides[len(sides) // 2], min(scene["width"], scene["height"]) * 0.45)


def size_for(aspect: float, side: float) -> tuple[float, float]:
    return (side, side / aspect) if aspect >= 1 else (side * aspect, side)


def free_spot(scene: dict[str, Any], bw: float, bh: float, rng: random.Random, avoid: list[Box] | None = None) -> Box:
    """The box of size bw×bh that overlaps existing objects and texts least (ties broken by seed)."""
    w, h = scene["width"], scene["height"]
    others = [o["bbox"] for o in scene["objects"]] + [t["bbox"] for t in scene["texts"]] + list(avoid or [])
    candidates = []
    for gy in range(7):
        for gx in range(9):
            cx = bw / 2 + (w - bw) * gx / 8
            cy = bh / 2 + (h - bh) * (0.35 + 0.65 * gy / 6)
            candidates.append(clamp_box(box_at(cx, cy, bw, bh), w, h))
    rng.shuffle(candidates)
    return min(candidates, key=lambda b: sum(overlap(b, o) for o in others))


def relative_box(anchor: Box, relation: str, bw: float, bh: float, w: int, h: int, inset: float = 0.0) -> tuple[Box, bool]:
    """A bw×bh box placed RELATION the anchor box (whose top surface is ``inset`` of its height down);
    returns it and whether the relation still holds."""
    ax0, ay0, ax1, ay1 = anchor
    acx, acy, aw, ah = (ax0 + ax1) / 2, (ay0 + ay1) / 2, ax1 - ax0, ay1 - ay0
    gap = 0.06 * max(aw, bw)
    rel = relation
    if rel == "next to":
        rel = "right of" if w - ax1 >= bw + gap or ax0 < bw + gap and w - ax1 >= ax0 else "left of"
    if rel == "on top of":
        bw, bh = size_for(bw / max(bh, 1e-6), min(max(aw, ah) * 0.55, ah * 1.1))
        box = box_at(acx, ay0 + ah * inset - bh / 2 + ah * 0.06, bw, bh)
    elif rel == "inside":
        bw, bh = size_for(bw / max(bh, 1e-6), min(aw, ah) * 0.5)
        box = box_at(acx, ay0 + ah * 0.55, bw, bh)
    elif rel in ("in front of", "behind"):
        box = box_at(acx + aw * 0.22, ay0 + ah * 0.62 - bh / 2 + bh / 2, bw, bh)
    else:
        for _ in range(6):
            cx = {"left of": ax0 - gap - bw / 2, "right of": ax1 + gap + bw / 2}.get(rel, acx)
            cy = {"above": ay0 - gap - bh / 2, "below": ay1 + gap + bh / 2}.get(rel, acy)
            box = box_at(cx, cy, bw, bh)
            if -1 <= box[0] and box[2] <= w + 1 and -1 <= box[1] and box[3] <= h + 1:
                break
            bw, bh = bw * 0.85, bh * 0.85
    box = clamp_box(box, w, h)
    return box, relation_holds(box, anchor, relation)


def relation_holds(box: Box, anchor: Box, relation: str) -> bool:
    """Whether box RELATION anchor holds, judged by box centres (as GenEval does)."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    ax, ay = (anchor[0] + anchor[2]) / 2, (anchor[1] + anchor[3]) / 2
    return {
        "left of": cx < ax, "right of": cx > ax, "above": cy < ay, "below": cy > ay,
        "on top of": cy < ay, "inside": anchor[0] <= cx <= anchor[2] and anchor[1] <= cy <= anchor[3],
    }.get(relation, True)
