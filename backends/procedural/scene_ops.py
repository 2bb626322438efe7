"""Scene-wide edit operations: text, background, style and global adjustments on a scene graph."""
from __future__ import annotations

from typing import Any

from backends.procedural import icons, lexicon as lx, photo_ops, text as textmod
from backends.procedural.edit_parse import EditOp
from backends.procedural.scene import next_id


class NotApplied(Exception):
    """This sub-operation cannot be applied to this scene; the message says why."""


class SceneWideOps:
    """Mixed into SceneEditor: operations that do not pick objects."""

    scene: dict[str, Any]

    def _texts(self, refs: list[str]) -> list[dict[str, Any]]:
        texts = self.scene["texts"]
        if not texts:
            raise NotApplied("the image has no text")
        if not refs:
            return list(texts)
        found = []
        for ref in refs:
            hit = [t for t in texts if t["text"].lower() == ref.lower()] or [t for t in texts if ref.lower() in t["text"].lower()]
            if not hit:
                have = ", ".join(repr(t["text"]) for t in texts)
                raise NotApplied(f"there is no text {ref!r} in the image (texts: {have})")
            found += hit
        return found

    def op_text_add(self, op: EditOp) -> str:
        s, w, h = self.scene, self.scene["width"], self.scene["height"]
        if not op.args.get("texts"):
            raise NotApplied("put the text to write in quotes")
        for k, text in enumerate(op.args["texts"]):
            carrier = next((o for o in s["objects"] if op.args.get("on") and o["class"] == op.args["on"]), None)
            if carrier is not None:
                x0, y0, x1, y1 = carrier["bbox"]
                fx0, fy0, fx1, fy1 = icons.TEXT_AREAS.get(carrier["class"], (.18, .25, .82, .7))
                box = [x0 + (x1 - x0) * fx0, y0 + (y1 - y0) * fy0, x0 + (x1 - x0) * fx1, y0 + (y1 - y0) * fy1]
            else:
                pos = op.args.get("position") or (None, 0.1 + 0.16 * (len(s["texts"]) % 5))
                fy = pos[1] if pos[1] is not None else 0.5
                box = [w * 0.05, max(0.0, (fy - 0.08) * h), w * 0.95, min(float(h), (fy + 0.08) * h)]
            color = op.args.get("color")
            element = {"id": next_id(s, "text"), "text": text, "bbox": [round(v, 1) for v in box], "color": color,
                       "rgb": list(lx.COLORS[color]) if color else None, "weight": op.args.get("weight") or "normal",
                       "style": op.args.get("style") or "normal", "family": "sans", "case": None,
                       "z": 1000 + len(s["texts"]) + k}
            textmod.layout_text(element)
            s["texts"].append(element)
            if carrier is not None:
                carrier["attributes"]["carries_text"] = element["id"]
        return ""

    def op_text_replace(self, op: EditOp) -> str:
        targets = self._texts([op.args["old"]] if op.args.get("old") else [])
        note = ""
        if not op.args.get("old") and len(targets) > 1:
            note = f"{len(targets)} texts in the image; replaced the first ({targets[0]['text']!r})"
        targets[0]["text"] = op.args["new"]
        textmod.layout_text(targets[0])
        return note

    def op_text_alter(self, op: EditOp) -> str:
        w, h = self.scene["width"], self.scene["height"]
        for t in self._texts(op.args.get("texts") or []):
            if op.args.get("color"):
                t["color"], t["rgb"] = op.args["color"], list(lx.COLORS[op.args["color"]])
            if op.args.get("weight"):
                t["weight"] = op.args["weight"]
            if op.args.get("style"):
                t["style"] = op.args["style"]
            if op.args.get("factor"):
                f = float(op.args["factor"])
                x0, y0, x1, y1 = t["bbox"]
                cx, cy, bw, bh = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) * f, (y1 - y0) * f
                t["bbox"] = [round(max(0.0, cx - bw / 2), 1), round(max(0.0, cy - bh / 2), 1),
                             round(min(float(w), cx + bw / 2), 1), round(min(float(h), cy + bh / 2), 1)]
                if f < 1:
                    t["max_font_size"] = max(6, int(t.get("font_size", 24) * f))
                else:
                    t.pop("max_font_size", None)
            textmod.layout_text(t)
        return ""

    def op_text_remove(self, op: EditOp) -> str:
        gone = {t["id"] for t in self._texts(op.args.get("texts") or [])}
        self.scene["texts"] = [t for t in self.scene["texts"] if t["id"] not in gone]
        for o in self.scene["objects"]:
            if o["attributes"].get("carries_text") in gone:
                del o["attributes"]["carries_text"]
        return ""

    def op_background(self, op: EditOp) -> str:
        bg = self.scene["background"]
        a = op.args
        if a.get("plain") and not (a.get("setting") or a.get("time") or a.get("color")):
            self.scene["background"] = {"setting": None, "time": None, "color": "white"}
            return ""
        if a.get("setting"):
            bg["setting"], bg["color"] = a["setting"], None
        if a.get("time"):
            bg["time"] = a["time"]
        if a.get("color"):
            bg["color"], bg["setting"] = a["color"], None
        bg.pop("transparent", None)
        return ""

    def op_style(self, op: EditOp) -> str:
        self.scene["style"] = list(op.args["styles"])
        return "" if op.args["styles"] else "style removed"

    def op_adjust(self, op: EditOp) -> str:
        self.scene.setdefault("adjustments", []).append({"op": op.args["what"], "value": op.args["value"]})
        return ""

    def _reframe(self, dx: float, dy: float, nw: int, nh: int) -> str:
        s = self.scene
        for item in s["objects"] + s["texts"]:
            x0, y0, x1, y1 = item["bbox"]
            item["bbox"] = [round(x0 + dx, 1), round(y0 + dy, 1), round(x1 + dx, 1), round(y1 + dy, 1)]
        s["width"], s["height"] = int(nw), int(nh)
        before = len(s["objects"])
        s["objects"] = [o for o in s["objects"] if o["bbox"][2] > 0 and o["bbox"][3] > 0 and o["bbox"][0] < nw and o["bbox"][1] < nh]
        s["texts"] = [t for t in s["texts"] if t["bbox"][2] > 0 and t["bbox"][3] > 0 and t["bbox"][0] < nw and t["bbox"][1] < nh]
        lost = before - len(s["objects"])
        return f"{lost} object(s) fell outside the crop" if lost else ""

    def op_crop(self, op: EditOp) -> str:
        x0, y0, x1, y1 = photo_ops.crop_box((self.scene["width"], self.scene["height"]), op.args)
        if x1 - x0 < 8 or y1 - y0 < 8:
            raise NotApplied("the crop would leave less than 8 pixels")
        return self._reframe(-x0, -y0, x1 - x0, y1 - y0)

    def op_extend(self, op: EditOp) -> str:
        left, top, right, bottom = photo_ops.extend_margins((self.scene["width"], self.scene["height"]), op.args)
        nw, nh = self.scene["width"] + left + right, self.scene["height"] + top + bottom
        if max(nw, nh) > 4096:
            raise NotApplied("the extended canvas would be over 4096 pixels")
        return self._reframe(left, top, nw, nh)

    def op_flip(self, op: EditOp) -> str:
        s, w, h = self.scene, self.scene["width"], self.scene["height"]
        vertical = op.args["axis"] == "vertical"
        for item in s["objects"] + s["texts"]:
            x0, y0, x1, y1 = item["bbox"]
            item["bbox"] = [x0, h - y1, x1, h - y0] if vertical else [w - x1, y0, w - x0, y1]
        for o in s["objects"]:
            key = "flipped" if vertical else "mirrored"
            o["attributes"][key] = not o["attributes"].get(key, False)
        return "text stays readable (its box moved, its letters are not mirrored)" if s["texts"] else ""

    def op_rotate(self, op: EditOp) -> str:
        deg = int(op.args["degrees"]) % 360
        if deg % 90:
            raise NotApplied("scene images rotate in steps of 90 degrees")
        s = self.scene
        for _ in range(deg // 90):  # 90 degrees clockwise each step
            w, h = s["width"], s["height"]
            for item in s["objects"] + s["texts"]:
                x0, y0, x1, y1 = item["bbox"]
                item["bbox"] = [h - y1, x0, h - y0, x1]
            for o in s["objects"]:
                o["attributes"]["rotation"] = (o["attributes"].get("rotation", 0) + 90) % 360
            s["width"], s["height"] = h, w
        return "text boxes moved; their letters stay upright" if s["texts"] and deg else ""
