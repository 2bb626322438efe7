"""Apply planned edit operations to a scene graph; untouched objects keep their boxes exactly."""
from __future__ import annotations

import copy
import random
from typing import Any

from backends.procedural import icons, lexicon as lx, placement as pl
from backends.procedural.drawing import object_aspect, top_inset
from backends.procedural.edit_parse import EditOp, Target
from backends.procedural.scene import make_object, next_id
from backends.procedural.scene_ops import NotApplied, SceneWideOps


def _describe(scene: dict[str, Any]) -> str:
    counts: dict[str, int] = {}
    for o in scene["objects"]:
        counts[o["class"]] = counts.get(o["class"], 0) + 1
    return ", ".join(f"{n} {c}" for c, n in counts.items()) or "no objects"


def _center(o: dict[str, Any]) -> tuple[float, float]:
    b = o["bbox"]
    return (b[0] + b[2]) / 2, (b[1] + b[3]) / 2


def resolve(scene: dict[str, Any], target: Target | None, last: list[str]) -> tuple[list[dict[str, Any]], str]:
    """The object instances a target names, and a note when a choice had to be made."""
    if target is None or (target.cls is None and not target.pronoun):
        raise NotApplied("names no object the engine knows")
    if target.pronoun or target.cls is None:
        if last:
            return [o for o in scene["objects"] if o["id"] in last], ""
        groups = {o["group"] for o in scene["objects"]}
        if len(groups) == 1:
            return list(scene["objects"]), ""
        raise NotApplied("'it' is ambiguous here; name the object")
    found = [o for o in scene["objects"] if o["class"] == target.cls]
    if not found:
        raise NotApplied(f"there is no {target.cls} in the image (it has: {_describe(scene)})")
    if target.color:
        colored = [o for o in found if o.get("color") == target.color]
        if not colored:
            have = sorted({o.get("color") or "uncolored" for o in found})
            raise NotApplied(f"there is no {target.color} {target.cls} (the {target.cls} here: {', '.join(have)})")
        found = colored
    if target.every or (target.plural and not target.selector):
        return found, ""
    sel = target.selector
    keyed = {
        "left": lambda o: _center(o)[0], "right": lambda o: -_center(o)[0], "top": lambda o: _center(o)[1],
        "bottom": lambda o: -_center(o)[1], "biggest": lambda o: -(o["bbox"][2] - o["bbox"][0]) * (o["bbox"][3] - o["bbox"][1]),
        "smallest": lambda o: (o["bbox"][2] - o["bbox"][0]) * (o["bbox"][3] - o["bbox"][1]),
    }
    by_x = sorted(found, key=lambda o: _center(o)[0])
    if sel in keyed:
        return [min(found, key=keyed[sel])], ""
    if sel in ("first", "second", "third", "last", "middle"):
        k = {"first": 0, "second": 1, "third": 2, "last": len(by_x) - 1, "middle": len(by_x) // 2}[sel]
        if k >= len(by_x):
            raise NotApplied(f"there are only {len(by_x)} {target.cls} in the image")
        return [by_x[k]], ""
    if len(found) > 1:
        return [by_x[0]], f"{len(found)} {target.cls} match '{target.phrase}'; changed the leftmost (say 'all' to change every one)"
    return found, ""


class SceneEditor(SceneWideOps):
    """Applies EditOps one by one to a copy of a scene; records what was honored and ignored."""

    def __init__(self, scene: dict[str, Any], seed: int) -> None:
        self.scene = copy.deepcopy(scene)
        self.rng = random.Random(f"edit:{seed}:{len(scene.get('history', []))}")
        self.last: list[str] = []
        self.honored: list[str] = []
        self.ignored: list[str] = []
        self.notes: list[str] = []
        self.extract: dict[str, Any] | None = None

    def apply(self, op: EditOp) -> None:
        if op.kind == "unknown":
            self.ignored.append(f"{op.phrase} ({op.args.get('reason', 'not understood')})")
            return
        try:
            note = getattr(self, f"op_{op.kind}")(op)
        except NotApplied as exc:
            self.ignored.append(f"{op.phrase} ({exc})")
            return
        self.honored.append(op.phrase)
        if note:
            self.notes.append(note)

    # -- objects ----------------------------------------------------------------------------
    def _new_object(self, cls: str, color: str | None, box: list[float], group: str, z: int) -> dict[str, Any]:
        obj = make_object(next_id(self.scene, cls.replace(" ", "-")), cls, box, color=color,
                          rgb=list(lx.COLORS[color]) if color else None, z=z, group=group)
        self.scene["objects"].append(obj)
        return obj

    def op_add(self, op: EditOp) -> str:
        s = self.scene
        anchor_box, inset = None, 0.0
        if op.args.get("anchor") is not None:
            anchors, _ = resolve(s, op.args["anchor"], self.last)
            anchor_box, inset = anchors[0]["bbox"], top_inset(anchors[0]["class"])
        group = f"group-{len({o['group'] for o in s['objects']}) + len(self.honored) + 100}"
        added, notes = [], []
        for spec in op.args["specs"]:
            side = pl.typical_size(s) * spec.size
            bw, bh = pl.size_for(object_aspect(spec.cls), side)
            for _ in range(spec.count):
                if anchor_box is not None:
                    box, ok = pl.relative_box(anchor_box, op.args["relation"], bw, bh, s["width"], s["height"], inset)
                    if not ok:
                        notes.append(f"not enough room to put the {spec.cls} {op.args['relation']} the {op.args['anchor'].cls}; placed it as close as fits")
                    if added:
                        box = pl.free_spot(s, bw, bh, self.rng)
                elif op.args.get("position"):
                    fx, fy = op.args["position"]
                    box = pl.clamp_box(pl.box_at((fx if fx is not None else .5) * s["width"], (fy if fy is not None else .6) * s["height"], bw, bh), s["width"], s["height"])
                else:
                    box = pl.free_spot(s, bw, bh, self.rng)
                z = max([o["z"] for o in s["objects"]], default=-1) + 1
                if op.args.get("relation") == "behind" and anchor_box is not None:
                    z = min(o["z"] for o in s["objects"]) - 1
                added.append(self._new_object(spec.cls, spec.color, box, group, z)["id"])
        self.last = added
        return "; ".join(dict.fromkeys(notes))

    def op_add_or_move(self, op: EditOp) -> str:
        present = op.target is not None and any(o["class"] == op.target.cls for o in self.scene["objects"])
        if present and op.args.get("anchor") is not None:
            return self.op_move(EditOp("move", op.phrase, op.target, {"relation": op.args["relation"], "anchor": op.args["anchor"]}))
        if present and op.args.get("position"):
            return self.op_move(EditOp("move", op.phrase, op.target, {"position": op.args["position"]}))
        return self.op_add(op)

    def op_remove(self, op: EditOp) -> str:
        objs, note = resolve(self.scene, op.target, self.last)
        ids = {o["id"] for o in objs}
        carried = {o["attributes"].get("carries_text") for o in objs}
        self.scene["objects"] = [o for o in self.scene["objects"] if o["id"] not in ids]
        self.scene["texts"] = [t for t in self.scene["texts"] if t["id"] not in carried]
        self.last = []
        return note

    def op_replace(self, op: EditOp) -> str:
        objs, note = resolve(self.scene, op.target, self.last)
        spec = op.args["spec"]
        if spec is None:
            raise NotApplied("the new object is not one the engine can draw")
        aspect = object_aspect(spec.cls)
        new_ids = []
        for o in objs:
            x0, y0, x1, y1 = o["bbox"]
            side = max(x1 - x0, y1 - y0)
            bw, bh = pl.size_for(aspect, side)
            box = pl.clamp_box([(x0 + x1) / 2 - bw / 2, y1 - bh, (x0 + x1) / 2 + bw / 2, y1], self.scene["width"], self.scene["height"])
            o.update({"class": spec.cls, "bbox": box, "color": spec.color,
                      "rgb": list(lx.COLORS[spec.color]) if spec.color else None, "id": next_id(self.scene, spec.cls.replace(" ", "-"))})
            new_ids.append(o["id"])
        self.last = new_ids
        return note

    def op_recolor(self, op: EditOp) -> str:
        objs, note = resolve(self.scene, op.target, self.last)
        color = op.args["color"]
        for o in objs:
            o["color"], o["rgb"] = color, list(lx.COLORS[color])
        self.last = [o["id"] for o in objs]
        return note

    def op_resize(self, op: EditOp) -> str:
        objs, note = resolve(self.scene, op.target, self.last)
        f = float(op.args["factor"])
        w, h = self.scene["width"], self.scene["height"]
        for o in objs:
            x0, y0, x1, y1 = o["bbox"]
            cx, bw, bh = (x0 + x1) / 2, (x1 - x0) * f, (y1 - y0) * f
            scale = min(1.0, w / bw, h / bh)
            bw, bh = bw * scale, bh * scale
            o["bbox"] = pl.clamp_box([cx - bw / 2, y1 - bh, cx + bw / 2, y1], w, h)
            o["attributes"]["size"] = "bigger" if f > 1 else "smaller"
        self.last = [o["id"] for o in objs]
        if f > 1 and any(o["bbox"][2] - o["bbox"][0] >= w - 1 or o["bbox"][3] - o["bbox"][1] >= h - 1 for o in objs):
            note = (note + "; " if note else "") + "the object reached the canvas size"
        return note

    def op_move(self, op: EditOp) -> str:
        objs, note = resolve(self.scene, op.target, self.last)
        s, w, h = self.scene, self.scene["width"], self.scene["height"]
        ids = {o["id"] for o in objs}
        for o in objs:
            x0, y0, x1, y1 = o["bbox"]
            bw, bh = x1 - x0, y1 - y0
            if "anchor" in op.args:
                anchors = [a for a in resolve(s, op.args["anchor"], [])[0] if a["id"] not in ids]
                if not anchors:
                    raise NotApplied("cannot move an object relative to itself")
                box, ok = pl.relative_box(anchors[0]["bbox"], op.args["relation"], bw, bh, w, h, top_inset(anchors[0]["class"]))
                if not ok:
                    note = f"not enough room to move the {o['class']} {op.args['relation']} the {anchors[0]['class']}"
            elif "position" in op.args:
                fx, fy = op.args["position"]
                cx = fx * w if fx is not None else (x0 + x1) / 2
                cy = fy * h if fy is not None else (y0 + y1) / 2
                box = pl.clamp_box(pl.box_at(cx, cy, bw, bh), w, h)
            else:
                d = op.args["direction"]
                dx = {"left": -0.25 * w, "right": 0.25 * w}.get(d, 0)
                dy = {"up": -0.25 * h, "down": 0.25 * h}.get(d, 0)
                box = pl.clamp_box([x0 + dx, y0 + dy, x1 + dx, y1 + dy], w, h)
                if box == pl.clamp_box(o["bbox"], w, h):
                    raise NotApplied(f"the {o['class']} is already at the {d} edge")
            o["bbox"] = box
            if o["attributes"].get("carries_text"):
                for t in s["texts"]:
                    if t["id"] == o["attributes"]["carries_text"]:
                        fx0, fy0, fx1, fy1 = icons.TEXT_AREAS.get(o["class"], (.18, .25, .82, .7))
                        t["bbox"] = [box[0] + (box[2] - box[0]) * fx0, box[1] + (box[3] - box[1]) * fy0,
                                     box[0] + (box[2] - box[0]) * fx1, box[1] + (box[3] - box[1]) * fy1]
        self.last = list(ids)
        return note

    def op_extract(self, op: EditOp) -> str:
        objs, note = resolve(self.scene, op.target, self.last)
        ids = {o["id"] for o in objs}
        carried = {o["attributes"].get("carries_text") for o in objs}
        self.scene["objects"] = [o for o in self.scene["objects"] if o["id"] in ids]
        self.scene["texts"] = [t for t in self.scene["texts"] if t["id"] in carried]
        bg = op.args.get("background", "white")
        self.scene["background"] = {"setting": None, "time": None, "color": None if bg == "transparent" else bg,
                                    "transparent": bg == "transparent"}
        if bg != "transparent" and bg not in lx.COLORS:
            self.scene["background"]["color"] = "white"
        self.scene["style"] = []
        self.last = list(ids)
        return note
