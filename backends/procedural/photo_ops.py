"""Global image operations that need no scene graph: tone, brightness, crop, extend, flip, rotate, text."""
from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from backends.procedural.text import draw_text, layout_text


def adjust(img: Image.Image, what: str, value: Any) -> Image.Image:
    """Brightness/contrast/saturation by a factor, or a warm/cool tone shift."""
    rgb = img.convert("RGB")
    if what == "brightness":
        out = ImageEnhance.Brightness(rgb).enhance(float(value))
    elif what == "contrast":
        out = ImageEnhance.Contrast(rgb).enhance(float(value))
    elif what == "saturation":
        out = ImageEnhance.Color(rgb).enhance(float(value))
    elif what == "tone":
        arr = np.asarray(rgb, dtype=np.float64)
        shift = np.array([18, 6, -18]) if value == "warm" else np.array([-16, 0, 20])
        out = Image.fromarray((arr + shift).clip(0, 255).astype(np.uint8), "RGB")
    else:
        raise ValueError(f"unknown adjustment {what!r}")
    if img.mode == "RGBA":
        out.putalpha(img.getchannel("A"))
    return out


def crop_box(size: tuple[int, int], args: dict[str, Any]) -> tuple[int, int, int, int]:
    """The pixel box a crop request keeps."""
    w, h = size
    if "aspect" in args:
        aw, ah = args["aspect"]
        if aw <= 0 or ah <= 0:
            raise ValueError("aspect ratio must be positive")
        target = aw / ah
        if w / h > target:
            nw = max(1, round(h * target))
            return ((w - nw) // 2, 0, (w - nw) // 2 + nw, h)
        nh = max(1, round(w / target))
        return (0, (h - nh) // 2, w, (h - nh) // 2 + nh)
    area = args.get("area", "center")
    return {
        "left half": (0, 0, w // 2, h), "right half": (w - w // 2, 0, w, h),
        "top half": (0, 0, w, h // 2), "bottom half": (0, h - h // 2, w, h),
    }.get(area, (w // 8, h // 8, w - w // 8, h - h // 8))


def extend_margins(size: tuple[int, int], args: dict[str, Any]) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) pixels an extend request adds."""
    w, h = size
    if "aspect" in args:
        aw, ah = args["aspect"]
        target = aw / max(ah, 1)
        if w / h < target:
            add = round(h * target) - w
            return (add // 2, 0, add - add // 2, 0)
        add = round(w / target) - h
        return (0, add // 2, 0, add - add // 2)
    side = args.get("side", "all")
    dx, dy = w // 4, h // 4
    return {"left": (dx, 0, 0, 0), "right": (0, 0, dx, 0), "top": (0, dy, 0, 0), "bottom": (0, 0, 0, dy)}.get(
        side, (dx // 2, dy // 2, dx // 2, dy // 2))


def extend(img: Image.Image, margins: tuple[int, int, int, int]) -> Image.Image:
    """A bigger canvas: the new border is the image's own edge, stretched and blurred (no invention)."""
    left, top, right, bottom = margins
    w, h = img.size
    nw, nh = w + left + right, h + top + bottom
    base = img.convert("RGB").resize((nw, nh), Image.BILINEAR).filter(ImageFilter.GaussianBlur(max(4, min(nw, nh) // 30)))
    base.paste(img.convert("RGB"), (left, top))
    return base


def flip(img: Image.Image, axis: str) -> Image.Image:
    return ImageOps.flip(img) if axis == "vertical" else ImageOps.mirror(img)


def rotate(img: Image.Image, degrees: int) -> Image.Image:
    """Rotate counter-clockwise by degrees (multiples of 90 stay lossless; others expand the canvas)."""
    if degrees % 90 == 0:
        return img.rotate(-degrees, expand=True)
    return img.rotate(-degrees, expand=True, resample=Image.BICUBIC, fillcolor=(255, 255, 255))


def overlay_text(img: Image.Image, text: str, position: tuple[float | None, float | None] | None,
                 rgb: tuple[int, int, int] | None, weight: str | None, style: str | None) -> tuple[Image.Image, dict[str, Any]]:
    """Draw a caption onto any image, in a band at the top (default), centre or bottom."""
    w, h = img.size
    fy = position[1] if position and position[1] is not None else 0.12
    band = [w * 0.05, max(0.0, fy * h - h * 0.09), w * 0.95, min(float(h), fy * h + h * 0.09)]
    element = {"id": "caption", "text": text, "bbox": band, "weight": weight or "normal", "style": style or "normal",
               "family": "sans", "case": None, "z": 2000}
    layout_text(element)
    if rgb is None:
        region = np.asarray(img.convert("L").crop(tuple(int(v) for v in band)), dtype=np.float64)
        rgb = (15, 15, 15) if region.size == 0 or region.mean() > 128 else (250, 250, 250)
    out = img.copy()
    draw_text(out, element, rgb)
    return out, element
