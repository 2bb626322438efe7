"""Layout: a parsed prompt -> a scene graph with one bounding box per object instance.

Relations become order constraints on two axes (left/right, above/below); groups in one connected
component share a grid of cells whose columns/rows follow the constraints' longest paths; separate
components sit side by side in a seed-shuffled order. "inside", "on top of" and "in front of" attach
a group to its host's boxes. Constraints that would form a cycle are dropped and reported.
"""
from __future__ import annotations

import math
import random
from typing import Any

from backends.procedural import icons, lexicon as lx, text as textmod
from backends.procedural.drawing import object_aspect, top_inset
from backends.procedural.parser import ParsedPrompt
from backends.procedural.scene import make_object, new_scene

ATTACHMENTS = ("inside", "on top of", "in front of")
MARGIN = 0.04


def _reaches(edges: dict[int, set[int]], start: int, goal: int) -> bool:
    seen, stack = set(), [start]
    while stack:
        n = stack.pop()
        if n == goal:
            return True
        if n not in seen:
            seen.add(n)
            stack.extend(edges.get(n, ()))
    return False


def _levels(nodes: list[int], edges: dict[int, set[int]], floor: dict[int, int]) -> dict[int, int]:
    """Longest-path level of each node in a DAG, at least ``floor[node]``."""
    level = {n: floor.get(n, 0) for n in nodes}
    for _ in range(len(nodes) + 1):
        changed = False
        for a in nodes:
            for b in edges.get(a, ()):
                if level[b] < level[a] + 1:
                    level[b] = level[a] + 1
                    changed = True
        if not changed:
            break
    return level


def instance_slots(n: int, arrangement: str | None, symmetric: bool) -> list[tuple[float, float]]:
    """Centres (fractions of a cell) for n instances: grid (centred rows), row, column or circle."""
    if n == 1:
        return [(0.5, 0.5)]
    if arrangement == "circle":
        return [(0.5 + 0.36 * math.sin(2 * math.pi * k / n), 0.5 - 0.36 * math.cos(2 * math.pi * k / n)) for k in range(n)]
    if arrangement == "row":
        cols, rows = n, 1
    elif arrangement == "column":
        cols, rows = 1, n
    else:
        cols = math.ceil(math.sqrt(n * 1.3))
        rows = math.ceil(n / cols)
    slots = []
    for r in range(rows):
        in_row = min(cols, n - r * cols)
        for c in range(in_row):
            offset = (cols - in_row) / 2 if (symmetric or arrangement != "grid") else 0
            slots.append(((c + 0.5 + offset) / cols, (r + 0.5) / rows))
    return slots


class _Layout:
    def __init__(self, parsed: ParsedPrompt, width: int, height: int, seed: int) -> None:
        self.p, self.w, self.h, self.seed = parsed, width, height, seed
        self.rng = random.Random(f"layout:{seed}")
        self.ignored: list[str] = []
        self.honored_rel: list[str] = []
        self.host: dict[int, tuple[int, str]] = {}
        self.xedges: dict[int, set[int]] = {}
        self.yedges: dict[int, set[int]] = {}
        self.size = [o.size for o in parsed.objects]
        self.boxes: dict[int, list[list[float]]] = {}

    def constraints(self) -> None:
        ordered = [r for r in self.p.relations if r.relation in ATTACHMENTS]
        ordered += [r for r in self.p.relations if r.relation not in ATTACHMENTS]
        for rel in ordered:
            s, o, r = rel.subject, rel.object, rel.relation
            if r in ATTACHMENTS:
                if s in self.host or o in self.host or any(h == s for h, _ in self.host.values()):
                    if r == "on top of" and s not in self.host:
                        r = "above"
                    else:
                        self.ignored.append(f"{rel.phrase} (an object can sit in or on only one other here)")
                        continue
                else:
                    self.host[s] = (o, r)
                    self.honored_rel.append(rel.phrase)
                    continue
            if r == "bigger than":
                if self.p.objects[s].size_word is None:
                    self.size[s] = max(self.size[s], 1.3)
                if self.p.objects[o].size_word is None:
                    self.size[o] = min(self.size[o], 0.72)
                self.honored_rel.append(rel.phrase)
                continue
            s, o = self.root(s), self.root(o)
            if s == o:
                self.ignored.append(f"{rel.phrase} (both already share one place)")
                continue
            if r == "next to":
                a, b = (s, o) if self.rng.random() < 0.5 or _reaches(self.xedges, o, s) else (o, s)
                if _reaches(self.xedges, b, a):
                    a, b = b, a
                self.xedges.setdefault(a, set()).add(b)
                self.honored_rel.append(rel.phrase)
                continue
            edges = self.xedges if r == "left of" else self.yedges
            if _reaches(edges, o, s):
                self.ignored.append(f"{rel.phrase} (impossible together with the earlier relations)")
                continue
            edges.setdefault(s, set()).add(o)
            self.honored_rel.append(rel.phrase)

    def root(self, g: int) -> int:
        seen = set()
        while g in self.host and g not in seen:
            seen.add(g)
            g = self.host[g][0]
        return g

    def components(self, free: list[int]) -> list[list[int]]:
        parent = {g: g for g in free}

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for edges in (self.xedges, self.yedges):
            for a, bs in edges.items():
                for b in bs:
                    parent[find(a)] = find(b)
        comps: dict[int, list[int]] = {}
        for g in free:
            comps.setdefault(find(g), []).append(g)
        out = list(comps.values())
        self.rng.shuffle(out)
        return out

    def place(self, text_band: float) -> None:
        free = [g for g in range(len(self.p.objects)) if g not in self.host]
        comps = self.components(free)
        cells: list[tuple[int, int, int, int, int]] = []  # group, comp, col, row
        comp_cols = []
        for ci, comp in enumerate(comps):
            floor: dict[int, int] = {}
            while True:
                xl = _levels(comp, self.xedges, floor)
                yl = _levels(comp, self.yedges, {})
                taken: dict[tuple[int, int], int] = {}
                clash = None
                for g in comp:
                    key = (xl[g], yl[g])
                    if key in taken:
                        clash = g
                        break
                    taken[key] = g
                if clash is None:
                    break
                floor[clash] = xl[clash] + 1
            ncols, nrows = max(xl.values()) + 1, max(yl.values()) + 1
            comp_cols.append(ncols)
            for g in comp:
                cells.append((g, ci, xl[g], yl[g], nrows))
        total_cols = sum(comp_cols) or 1
        m = MARGIN * min(self.w, self.h)
        top = m + text_band * self.h
        area_w, area_h = self.w - 2 * m, self.h - top - m
        col_w = area_w / total_cols
        x_start = [m + col_w * sum(comp_cols[:i]) for i in range(len(comp_cols))]
        for g, ci, col, row, nrows in cells:
            cell_h = area_h / nrows
            cx0, cy0 = x_start[ci] + col * col_w, top + row * cell_h
            self.fill_cell(g, [cx0, cy0, cx0 + col_w, cy0 + cell_h], nrows == 1)

    def fill_cell(self, g: int, cell: list[float], on_ground: bool) -> None:
        spec = self.p.objects[g]
        tops = [s for s, (h, r) in self.host.items() if h == g and r == "on top of"]
        x0, y0, x1, y1 = cell
        if tops:  # leave room above for what sits on it
            y0 += (y1 - y0) * 0.38
        slots = instance_slots(spec.count, spec.arrangement, self.p.arrangement == "symmetric")
        cols = len({round(sx, 3) for sx, _ in slots}) if spec.arrangement != "circle" else 3
        rows = len({round(sy, 3) for _, sy in slots}) if spec.arrangement != "circle" else 3
        cw, ch = (x1 - x0) / cols, (y1 - y0) / rows
        aspect = object_aspect(spec.cls)
        side = min(cw, ch) * 0.78 * min(self.size[g], 1.25) / (1.0 if self.size[g] <= 1 else 1.0)
        bw, bh = (side, side / aspect) if aspect >= 1 else (side * aspect, side)
        bw, bh = min(bw, cw * 0.98 * max(1, self.size[g])), min(bh, ch * 0.98 * max(1, self.size[g]))
        jx = (cw - bw) * 0.3 * (self.rng.random() - 0.5) if spec.count == 1 and self.p.arrangement != "symmetric" else 0
        jy = (ch - bh) * 0.3 * (self.rng.random() - 0.5) if spec.count == 1 else 0
        boxes = []
        for sx, sy in slots:
            cx = x0 + sx * (x1 - x0) + jx
            cy = y0 + sy * (y1 - y0) + jy
            if on_ground and rows == 1 and not tops and spec.count == 1:
                cy = y0 + (y1 - y0) * 0.58 + jy
            boxes.append(self.clamp([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2]))
        self.boxes[g] = boxes

    def clamp(self, box: list[float]) -> list[float]:
        x0, y0, x1, y1 = box
        dx = max(0.0, -x0) - max(0.0, x1 - self.w)
        dy = max(0.0, -y0) - max(0.0, y1 - self.h)
        return [max(0.0, x0 + dx), max(0.0, y0 + dy), min(float(self.w), x1 + dx), min(float(self.h), y1 + dy)]

    def attach(self) -> None:
        pending = dict(self.host)
        for _ in range(len(pending) + 1):
            for g, (host, rel) in list(pending.items()):
                if host not in self.boxes:
                    continue
                del pending[g]
                spec = self.p.objects[g]
                host_boxes = self.boxes[host]
                aspect = object_aspect(spec.cls)
                boxes = []
                for k in range(spec.count):
                    hb = host_boxes[k % len(host_boxes)] if len(host_boxes) >= spec.count else host_boxes[0]
                    hw, hh = hb[2] - hb[0], hb[3] - hb[1]
                    share = spec.count if len(host_boxes) < spec.count else 1
                    frac = {"inside": 0.5, "on top of": 0.62, "in front of": 0.75}[rel] * min(self.size[g], 1.3)
                    frac /= math.sqrt(share)
                    side = min(hw, hh) * frac if rel != "on top of" else min(max(hw, hh) * 0.55, hh * 1.1) / math.sqrt(share)
                    bw, bh = (side, side / aspect) if aspect >= 1 else (side * aspect, side)
                    slot = (k if len(host_boxes) < spec.count else 0)
                    offs = (slot - (share - 1) / 2) * bw * 1.05
                    cx = (hb[0] + hb[2]) / 2 + offs
                    if rel == "inside":
                        cy = hb[1] + hh * 0.55
                    elif rel == "on top of":
                        cy = hb[1] + hh * top_inset(self.p.objects[host].cls) - bh / 2 + hh * 0.06
                    else:
                        cx, cy = cx + hw * 0.22, hb[1] + hh * 0.62
                    boxes.append(self.clamp([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2]))
                self.boxes[g] = boxes
        for g in pending:
            self.ignored.append(f"{self.p.objects[g].cls} (its host could not be placed)")


def _text_band(parsed: ParsedPrompt, carrier: int | None) -> float:
    loose = len(parsed.texts) - (1 if carrier is not None else 0)
    if loose <= 0:
        return 0.0
    return min(0.45, 0.2 + 0.08 * (loose - 1)) if parsed.objects else 0.0


def build_scene(parsed: ParsedPrompt, width: int, height: int, seed: int, prompt: str = "") -> tuple[dict[str, Any], list[str], list[str]]:
    """The scene graph for a parsed prompt; returns (scene, honored relations, ignored relations)."""
    scene = new_scene(width, height, seed, prompt[:2000])
    scene["background"].update(setting=parsed.setting, time=parsed.time)
    scene["style"] = list(parsed.styles)
    scene["arrangement"] = parsed.arrangement
    carrier = next((i for i, o in enumerate(parsed.objects) if o.cls in lx.TEXT_CARRIERS), None)
    lay = _Layout(parsed, width, height, seed)
    lay.constraints()
    lay.place(_text_band(parsed, carrier))
    lay.attach()
    attach_z = {g: 1 for g in lay.host}
    order = sorted(lay.boxes, key=lambda g: (attach_z.get(g, 0), max(b[3] for b in lay.boxes[g])))
    z = 0
    for g in order:
        spec = parsed.objects[g]
        for k, box in enumerate(lay.boxes[g]):
            attrs: dict[str, Any] = {}
            if spec.size_word:
                attrs["size"] = spec.size_word
            if g in lay.host:
                attrs[lay.host[g][1].replace(" ", "_")] = f"group-{lay.host[g][0]}"
            scene["objects"].append(make_object(
                f"{spec.cls.replace(' ', '-')}-{len(scene['objects']) + 1}", spec.cls, box,
                color=spec.color, rgb=list(lx.COLORS[spec.color]) if spec.color else None,
                z=z, group=f"group-{g}", attributes=attrs,
            ))
            z += 1
    for rel in parsed.relations:
        if rel.phrase in lay.honored_rel:
            scene["relations"].append({"subject": f"group-{rel.subject}", "relation": rel.relation,
                                       "object": f"group-{rel.object}", "phrase": rel.phrase})
    place_texts(scene, parsed, carrier)
    return scene, lay.honored_rel, lay.ignored


def place_texts(scene: dict[str, Any], parsed: ParsedPrompt, carrier: int | None) -> None:
    """Text boxes: the first text on a carrier object (sign, book ...), the rest stacked in a band."""
    w, h = scene["width"], scene["height"]
    loose = []
    for k, spec in enumerate(parsed.texts):
        box = None
        if k == 0 and carrier is not None:
            host = next(o for o in scene["objects"] if o["group"] == f"group-{carrier}")
            x0, y0, x1, y1 = host["bbox"]
            fx0, fy0, fx1, fy1 = icons.TEXT_AREAS.get(host["class"], (.18, .25, .82, .7))
            box = [x0 + (x1 - x0) * fx0, y0 + (y1 - y0) * fy0, x0 + (x1 - x0) * fx1, y0 + (y1 - y0) * fy1]
            host["attributes"]["carries_text"] = f"text-{k + 1}"
        else:
            loose.append(k)
        scene["texts"].append(_text_element(k, spec, box))
    band = _text_band(parsed, carrier) if parsed.objects else 0.84
    m = MARGIN * min(w, h)
    top = m if parsed.objects else h * 0.08
    slot_h = (band * h - m) / max(1, len(loose)) if parsed.objects else (h * band) / max(1, len(loose))
    for n, k in enumerate(loose):
        scene["texts"][k]["bbox"] = [m, top + n * slot_h, w - m, top + (n + 1) * slot_h]
    for element in scene["texts"]:
        textmod.layout_text(element)


def _text_element(k: int, spec: Any, box: list[float] | None) -> dict[str, Any]:
    rgb = lx.COLORS.get(spec.color) if spec.color else None
    return {
        "id": f"text-{k + 1}", "text": spec.text, "bbox": [round(v, 1) for v in box] if box else [0, 0, 1, 1],
        "color": spec.color, "rgb": list(rgb) if rgb else None, "weight": spec.weight,
        "style": spec.style, "family": spec.family, "case": spec.case, "z": 1000 + k,
    }
