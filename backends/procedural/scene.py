"""The scene graph: the JSON document a procedural image carries (PNG text chunk ``scene_graph``).

Plain dicts so it round-trips through JSON unchanged; this module builds, validates and copies them.
The schema is documented in docs/scene_graph.md.
"""
from __future__ import annotations

import copy
import json
from typing import Any

SCHEMA_VERSION = 1
PNG_KEY = "scene_graph"
MAX_ITEMS = 500  # objects or texts a scene may hold (a PNG chunk is untrusted input)
MAX_TEXT_CHARS = 2000


class SceneGraphError(ValueError):
    """A scene graph that is not a valid version-1 procedural scene; the message says what is wrong."""


def new_scene(width: int, height: int, seed: int, prompt: str = "") -> dict[str, Any]:
    """An empty scene of the given size (plain background, no style)."""
    return {
        "version": SCHEMA_VERSION,
        "engine": "procedural",
        "width": int(width),
        "height": int(height),
        "seed": int(seed),
        "prompt": prompt,
        "background": {"setting": None, "time": None, "color": None},
        "style": [],
        "arrangement": None,
        "objects": [],
        "texts": [],
        "relations": [],
        "history": [],
    }


def make_object(
    oid: str, cls: str, bbox: list[float], *, color: str | None = None, rgb: list[int] | None = None,
    z: int = 0, group: str = "", attributes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One object instance."""
    return {
        "id": oid,
        "class": cls,
        "color": color,
        "rgb": list(rgb) if rgb is not None else None,
        "bbox": [round(float(v), 1) for v in bbox],
        "z": int(z),
        "group": group,
        "attributes": dict(attributes or {}),
    }


def _check_box(where: str, box: Any, limit: float) -> list[float]:
    if not (isinstance(box, (list, tuple)) and len(box) == 4
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box)):
        raise SceneGraphError(f"{where}.bbox: expected [x0, y0, x1, y1] numbers, got {box!r}")
    x0, y0, x1, y1 = (float(v) for v in box)
    if not all(abs(v) <= limit for v in (x0, y0, x1, y1)):
        raise SceneGraphError(f"{where}.bbox: coordinates beyond ±{limit:.0f}px ({box!r})")
    if x1 < x0 or y1 < y0:
        raise SceneGraphError(f"{where}.bbox: x1/y1 must not be smaller than x0/y0 ({box!r})")
    return [x0, y0, x1, y1]


def validate_scene(data: Any) -> dict[str, Any]:
    """Check the structure a renderer relies on; returns a deep copy with defaults filled in."""
    if not isinstance(data, dict):
        raise SceneGraphError("scene graph: expected a JSON object")
    if data.get("version") != SCHEMA_VERSION:
        raise SceneGraphError(f"scene graph: unsupported version {data.get('version')!r} (expected {SCHEMA_VERSION})")
    scene = copy.deepcopy(data)
    for key in ("width", "height"):
        v = scene.get(key)
        if not isinstance(v, int) or not 8 <= v <= 8192:
            raise SceneGraphError(f"scene graph: {key} must be an integer from 8 to 8192, got {v!r}")
    scene.setdefault("seed", 0)
    scene.setdefault("prompt", "")
    scene.setdefault("engine", "procedural")
    scene.setdefault("arrangement", None)
    bg = scene.setdefault("background", {})
    if not isinstance(bg, dict):
        raise SceneGraphError("scene graph: background must be an object")
    for key in ("setting", "time", "color"):
        bg.setdefault(key, None)
    for key in ("style", "objects", "texts", "relations", "history"):
        if not isinstance(scene.setdefault(key, []), list):
            raise SceneGraphError(f"scene graph: {key} must be a list")
    limit = 4.0 * max(scene["width"], scene["height"])
    for key in ("objects", "texts"):
        if len(scene[key]) > MAX_ITEMS:
            raise SceneGraphError(f"scene graph: more than {MAX_ITEMS} {key}")
    for i, obj in enumerate(scene["objects"]):
        where = f"objects[{i}]"
        if not isinstance(obj, dict) or not isinstance(obj.get("class"), str):
            raise SceneGraphError(f"{where}: expected an object with a 'class' string")
        obj["bbox"] = _check_box(where, obj.get("bbox"), limit)
        if not isinstance(obj.get("attributes", {}), dict):
            raise SceneGraphError(f"{where}.attributes: expected an object")
        obj.setdefault("id", f"obj-{i}")
        obj.setdefault("color", None)
        obj.setdefault("rgb", None)
        obj.setdefault("z", i)
        obj.setdefault("group", obj["id"])
        obj.setdefault("attributes", {})
    for i, txt in enumerate(scene["texts"]):
        where = f"texts[{i}]"
        if not isinstance(txt, dict) or not isinstance(txt.get("text"), str):
            raise SceneGraphError(f"{where}: expected an object with a 'text' string")
        txt["bbox"] = _check_box(where, txt.get("bbox"), limit)
        if len(txt["text"]) > MAX_TEXT_CHARS:
            raise SceneGraphError(f"{where}.text: longer than {MAX_TEXT_CHARS} characters")
        txt.setdefault("id", f"text-{i}")
        txt.setdefault("rgb", None)
        txt.setdefault("color", None)
        txt.setdefault("weight", "normal")
        txt.setdefault("style", "normal")
        txt.setdefault("family", "sans")
        txt.setdefault("z", 1000 + i)
    return scene


def scene_from_image_info(info: dict[str, Any]) -> dict[str, Any] | None:
    """The scene graph stored in an image's PNG text chunk, validated, or None if absent/invalid."""
    raw = info.get(PNG_KEY)
    if isinstance(raw, dict):
        data = raw
    elif isinstance(raw, str):
        try:
            data = json.loads(raw)
        except ValueError:
            return None
    else:
        return None
    try:
        return validate_scene(data)
    except SceneGraphError:
        return None


def scene_json(scene: dict[str, Any]) -> str:
    """Canonical JSON text of a scene (sorted keys, so equal scenes give equal bytes)."""
    return json.dumps(scene, sort_keys=True, ensure_ascii=False)


def scale_scene(scene: dict[str, Any], width: int, height: int) -> dict[str, Any]:
    """A copy of the scene resized to ``width``×``height`` (boxes and font sizes scaled)."""
    sx, sy = width / scene["width"], height / scene["height"]
    out = copy.deepcopy(scene)
    out["width"], out["height"] = int(width), int(height)
    for item in out["objects"] + out["texts"]:
        x0, y0, x1, y1 = item["bbox"]
        item["bbox"] = [round(x0 * sx, 1), round(y0 * sy, 1), round(x1 * sx, 1), round(y1 * sy, 1)]
    for txt in out["texts"]:
        if "font_size" in txt:
            txt["font_size"] = max(4, int(txt["font_size"] * min(sx, sy)))
    return out


def objects_of(scene: dict[str, Any], cls: str, color: str | None = None) -> list[dict[str, Any]]:
    """Instances of a class (optionally of one color) in z order."""
    found = [o for o in scene["objects"] if o["class"] == cls and (color is None or o.get("color") == color)]
    return sorted(found, key=lambda o: o["z"])


def next_id(scene: dict[str, Any], prefix: str) -> str:
    """A fresh id like ``cat-3`` not used by any object or text in the scene."""
    used = {o["id"] for o in scene["objects"]} | {t["id"] for t in scene["texts"]}
    n = 1
    while f"{prefix}-{n}" in used:
        n += 1
    return f"{prefix}-{n}"
