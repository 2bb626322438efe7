"""Scene graph -> pixels: background, objects in z order, text, then style transformations."""
from __future__ import annotations

from typing import Any

from PIL import Image, ImageOps

from backends.procedural import drawing, photo_ops
from backends.procedural.styles import apply_styles
from backends.procedural.text import draw_text


def paste_object(canvas: Image.Image, obj: dict[str, Any], shadow: bool = True) -> None:
    """Draw one object instance into its bounding box on the canvas."""
    x0, y0, x1, y1 = obj["bbox"]
    w, h = int(round(x1 - x0)), int(round(y1 - y0))
    if w < 1 or h < 1:
        return
    rgb = drawing.resolve_rgb(obj.get("color"), obj.get("rgb"))
    attrs = obj.get("attributes") or {}
    rotation = int(attrs.get("rotation", 0)) % 360
    if rotation in (90, 270):
        img = drawing.object_image(obj["class"], rgb, h, w).rotate(-rotation, expand=True)
    else:
        img = drawing.object_image(obj["class"], rgb, w, h)
        if rotation == 180:
            img = img.rotate(180)
    if attrs.get("mirrored"):
        img = ImageOps.mirror(img)
    if attrs.get("flipped"):
        img = ImageOps.flip(img)
    pos = (int(round(x0)), int(round(y0)))
    if shadow and canvas.mode == "RGB":
        off = max(1, h // 40)
        sh = drawing.drop_shadow(img, max(1, h // 30))
        canvas.paste(sh, (pos[0] + off, pos[1] + off), sh)
    if canvas.mode == "RGBA":
        canvas.alpha_composite(img, pos) if pos[0] >= 0 and pos[1] >= 0 else canvas.paste(img, pos, img)
    else:
        canvas.paste(img, pos, img)


def text_rgb(canvas: Image.Image, txt: dict[str, Any]) -> tuple[int, int, int]:
    """The text's own color, or near-black/near-white, whichever contrasts with what lies under it."""
    if txt.get("rgb"):
        return tuple(int(v) for v in txt["rgb"])  # type: ignore[return-value]
    x0, y0, x1, y1 = (int(round(v)) for v in txt["bbox"])
    box = (max(0, x0), max(0, y0), min(canvas.width, max(x0 + 1, x1)), min(canvas.height, max(y0 + 1, y1)))
    if box[2] <= box[0] or box[3] <= box[1]:
        return (20, 20, 20)
    patch = canvas.convert("L").crop(box)
    return (20, 20, 20) if sum(patch.getdata()) / max(1, patch.width * patch.height) > 110 else (245, 245, 245)


def render_scene(scene: dict[str, Any], *, styles: bool = True) -> Image.Image:
    """Render a validated scene graph to an RGB image (deterministic)."""
    transparent = bool((scene.get("background") or {}).get("transparent"))
    if transparent:
        canvas = Image.new("RGBA", (scene["width"], scene["height"]), (0, 0, 0, 0))
    else:
        canvas = drawing.paint_background(scene)
    for obj in sorted(scene["objects"], key=lambda o: o["z"]):
        paste_object(canvas, obj)
    for txt in sorted(scene["texts"], key=lambda t: t["z"]):
        draw_text(canvas, txt, text_rgb(canvas, txt))
    if styles and scene.get("style") and not transparent:
        canvas, _ = apply_styles(canvas, list(scene["style"]))
    for adj in scene.get("adjustments") or []:
        try:
            canvas = photo_ops.adjust(canvas, adj["op"], adj["value"])
        except (KeyError, ValueError, TypeError):
            continue  # a hand-edited scene with an unknown adjustment: draw the rest
    return canvas

