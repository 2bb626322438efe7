"""Pixels for one object (glyph, vector icon or labelled box) and for the background setting."""
from __future__ import annotations

import random
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from backends.procedural import glyphs, icons
from backends.procedural.lexicon import COLORS

RGB = tuple[int, int, int]

# sky top, sky bottom, ground top, ground bottom, horizon (fraction of height; 1.0 = no ground)
_SETTING_PALETTES: dict[str | None, tuple[RGB, RGB, RGB, RGB, float]] = {
    None: ((238, 240, 244), (222, 226, 232), (214, 217, 222), (198, 202, 208), 0.66),
    "sky": ((70, 140, 230), (175, 215, 250), (175, 215, 250), (175, 215, 250), 1.0),
    "beach": ((90, 160, 235), (190, 225, 250), (238, 214, 160), (222, 190, 130), 0.55),
    "forest": ((150, 200, 170), (205, 230, 205), (70, 130, 60), (45, 95, 40), 0.55),
    "city": ((140, 180, 225), (210, 225, 240), (120, 120, 125), (85, 85, 90), 0.62),
    "room": ((236, 222, 200), (226, 210, 185), (165, 115, 75), (135, 90, 55), 0.66),
    "space": ((8, 8, 25), (20, 15, 45), (20, 15, 45), (20, 15, 45), 1.0),
    "snow": ((175, 200, 230), (225, 235, 245), (245, 248, 252), (225, 232, 242), 0.55),
    "desert": ((240, 190, 120), (250, 225, 170), (230, 180, 110), (205, 150, 85), 0.55),
    "ocean": ((80, 150, 230), (180, 215, 245), (30, 110, 180), (15, 70, 140), 0.45),
    "underwater": ((40, 140, 200), (10, 60, 120), (10, 60, 120), (10, 60, 120), 1.0),
    "park": ((110, 175, 240), (200, 230, 250), (110, 180, 80), (80, 150, 55), 0.55),
    "mountains": ((110, 165, 230), (210, 230, 250), (120, 170, 90), (90, 140, 70), 0.6),
}
_SCENERY: dict[str, list[tuple[str, float, float, float, int]]] = {
    # glyph, y (fraction, bottom of glyph), size (fraction of height), x jitter, how many
    "beach": [("scenery_palm", .56, .28, .15, 1), ("scenery_shell", .92, .06, .4, 2)],
    "forest": [("scenery_pine", .57, .26, .5, 7)],
    "city": [("scenery_building", .63, .3, .5, 4), ("scenery_office", .63, .24, .5, 3)],
    "room": [("scenery_window", .42, .22, .2, 1)],
    "space": [("scenery_planet", .3, .2, .3, 1)],
    "snow": [("scenery_pine", .57, .18, .5, 4), ("scenery_snowflake", .3, .06, .5, 5)],
    "desert": [("scenery_cactus", .6, .16, .5, 2)],
    "ocean": [("scenery_wave", .75, .12, .5, 3)],
    "park": [("tree", .57, .24, .5, 3)],
    "mountains": [("scenery_mountain", .62, .38, .5, 3)],
    "sky": [("scenery_cloud", .35, .12, .5, 3)],
}


def resolve_rgb(color: str | None, rgb: Any = None) -> RGB | None:
    """An explicit rgb list wins; otherwise the named color's RGB; None keeps natural colors."""
    if isinstance(rgb, (list, tuple)) and len(rgb) == 3:
        return tuple(int(max(0, min(255, v))) for v in rgb)  # type: ignore[return-value]
    return COLORS.get(color) if color else None


def object_aspect(cls: str) -> float:
    """width / height the object is drawn at."""
    a = glyphs.glyph_aspect(cls)
    if a is not None:
        return a
    return icons.ASPECTS.get(cls, 1.0)


def top_inset(cls: str) -> float:
    """Fraction of the drawn height above the object's top surface (0 for most things)."""
    return glyphs.glyph_top_inset(cls) if glyphs.has_glyph(cls) else icons.TOP_INSETS.get(cls, 0.0)


def draw_method(cls: str) -> str:
    """'glyph', 'icon' or 'label': how this class is drawn."""
    if glyphs.has_glyph(cls):
        return "glyph"
    return "icon" if icons.has_icon(cls) else "label"


def object_image(cls: str, rgb: RGB | None, width: int, height: int) -> Image.Image:
    """RGBA pixels of one object instance at the given size."""
    width, height = max(1, int(width)), max(1, int(height))
    method = draw_method(cls)
    if method == "glyph":
        img = glyphs.glyph_image(cls, rgb, width, height)
        if img is not None:
            return img
    if method == "icon":
        return icons.icon_image(cls, rgb, width, height)
    return icons.labelled_box(cls, rgb, width, height)


def _gradient(w: int, h: int, top: RGB, bottom: RGB) -> np.ndarray:
    t = np.linspace(0, 1, max(h, 1))[:, None, None]
    col = np.array(top, float) * (1 - t) + np.array(bottom, float) * t
    return np.broadcast_to(col, (h, w, 3)).copy()


def _time_palette(time: str | None, pal: tuple) -> tuple:
    sky_top, sky_bot, g_top, g_bot, horizon = pal
    if time == "night":
        return (10, 15, 45), (40, 50, 95), tuple(int(c * .35) for c in g_top), tuple(int(c * .3) for c in g_bot), horizon
    if time == "sunset":
        return (90, 60, 140), (250, 150, 80), tuple(int(c * .8) for c in g_top), tuple(int(c * .7) for c in g_bot), horizon
    if time == "sunrise":
        return (150, 170, 230), (255, 200, 150), g_top, g_bot, horizon
    return pal


def paint_background(scene: dict[str, Any]) -> Image.Image:
    """The scene's background: setting palette, time of day and scenery glyphs, deterministic per seed."""
    w, h = scene["width"], scene["height"]
    bg = scene.get("background") or {}
    setting, time = bg.get("setting"), bg.get("time")
    explicit = resolve_rgb(bg.get("color"), bg.get("rgb"))
    if explicit is not None and setting is None:
        img = Image.new("RGB", (w, h), explicit)
        return _apply_time_overlay(img, time, scene)
    pal = _time_palette(time, _SETTING_PALETTES.get(setting, _SETTING_PALETTES[None]))
    sky_top, sky_bot, g_top, g_bot, horizon = pal
    hy = int(h * horizon)
    arr = np.empty((h, w, 3))
    arr[:hy] = _gradient(w, hy, sky_top, sky_bot)
    if hy < h:
        arr[hy:] = _gradient(w, h - hy, g_top, g_bot)
    img = Image.fromarray(arr.clip(0, 255).astype(np.uint8), "RGB")
    rng = random.Random(f"bg:{scene.get('seed', 0)}:{setting}:{time}")
    d = ImageDraw.Draw(img)
    if setting == "beach":
        d.rectangle([0, int(h * .47), w, hy], fill=(40, 130, 200))
    if setting in ("space",) or time == "night":
        for _ in range(int(w * h / 2500)):
            x, y = rng.randrange(w), rng.randrange(max(1, hy if setting != "space" else h))
            r = rng.choice((1, 1, 1, 2))
            d.ellipse([x - r, y - r, x + r, y + r], fill=(255, 255, 230))
    if setting == "underwater":
        for _ in range(14):
            x, y, r = rng.randrange(w), rng.randrange(h), rng.randint(3, max(4, w // 40))
            d.ellipse([x - r, y - r, x + r, y + r], outline=(200, 235, 255), width=2)
    _place_scenery(img, setting, h, w, hy, rng, {"night": 0.5, "sunset": 0.8}.get(time or "", 1.0))
    if setting not in ("space", "underwater", "room") and time in (None, "day") and setting is not None:
        _paste_glyph(img, "scenery_sun", int(w * .85), int(h * .16), int(h * .14))
    if time == "night" and setting not in ("room", "underwater"):
        _paste_glyph(img, "scenery_moon", int(w * .84), int(h * .16), int(h * .13))
    if time in ("sunset", "sunrise"):
        r = int(h * .09)
        cx, cy = int(w * .25), hy - r // 3 if hy < h else int(h * .6)
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(255, 190, 90))
    return _apply_time_overlay(img, time, scene)


def _apply_time_overlay(img: Image.Image, time: str | None, scene: dict[str, Any]) -> Image.Image:
    if time == "fog":
        fog = Image.new("RGB", img.size, (225, 228, 232))
        return Image.blend(img, fog, 0.45)
    return img


def _place_scenery(img: Image.Image, setting: str | None, h: int, w: int, hy: int, rng: random.Random, light: float) -> None:
    for name, y, size, jitter, n in _SCENERY.get(setting or "", []):
        side = int(h * size)
        for k in range(n):
            base_x = (k + 0.5) / n
            x = int(w * min(.97, max(.03, base_x + rng.uniform(-jitter, jitter) / n)))
            s = int(side * rng.uniform(.8, 1.15))
            _paste_glyph(img, name, x, int(h * y) - s // 2, s, light)


def _paste_glyph(img: Image.Image, name: str, cx: int, cy: int, side: int, light: float = 1.0) -> None:
    g = glyphs.load_glyph(name)
    if g is None or side < 2:
        return
    scale = side / max(g.size)
    g = g.resize((max(1, int(g.width * scale)), max(1, int(g.height * scale))), Image.LANCZOS)
    if light != 1.0:
        r, gr, b, a = g.split()
        g = Image.merge("RGBA", [c.point(lambda v: int(v * light)) for c in (r, gr, b)] + [a])
    img.paste(g, (cx - g.width // 2, cy - g.height // 2), g)


def drop_shadow(obj: Image.Image, blur: int) -> Image.Image:
    """A soft shadow of an object's alpha, for pasting under it."""
    alpha = obj.getchannel("A").point(lambda a: int(a * 0.35))
    shadow = Image.new("RGBA", obj.size, (0, 0, 0, 0))
    shadow.putalpha(alpha.filter(ImageFilter.GaussianBlur(blur)) if blur > 0 else alpha)
    return shadow
