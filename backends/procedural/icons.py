"""Vector drawings for shapes and for the COCO classes no emoji glyph shows (hydrant, oven, sink ...).

Each icon is drawn at twice its size on a transparent canvas and scaled down for smooth edges, in the
requested color (or the class's natural color), with a darker outline.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Callable

from PIL import Image, ImageDraw

RGB = tuple[int, int, int]
DrawFn = Callable[[ImageDraw.ImageDraw, int, int, RGB, RGB], None]

#: natural colors of vector-drawn classes when the prompt names none
DEFAULT_COLORS: dict[str, RGB] = {
    "fire hydrant": (210, 40, 40), "parking meter": (120, 125, 135), "bench": (150, 95, 50),
    "dining table": (160, 105, 60), "remote": (45, 45, 50), "microwave": (200, 200, 205),
    "oven": (190, 190, 195), "toaster": (195, 195, 200), "sink": (235, 235, 240),
    "refrigerator": (225, 228, 232), "hair drier": (240, 110, 170), "sign": (250, 248, 235),
    "circle": (40, 110, 220), "square": (230, 60, 60), "rectangle": (60, 170, 90), "triangle": (245, 170, 30),
    "star": (250, 200, 30), "heart": (225, 40, 80), "hexagon": (130, 70, 190), "diamond": (30, 180, 200),
    "ellipse": (240, 120, 40), "cross": (200, 40, 40),
}
#: width / height of each vector icon
ASPECTS: dict[str, float] = {
    "fire hydrant": 0.7, "parking meter": 0.4, "bench": 1.8, "dining table": 1.7, "remote": 0.35,
    "microwave": 1.6, "oven": 0.9, "toaster": 1.3, "sink": 1.4, "refrigerator": 0.55, "hair drier": 1.1,
    "sign": 1.3, "rectangle": 1.6, "ellipse": 1.45,
}


def darker(c: RGB, f: float = 0.55) -> RGB:
    return (int(c[0] * f), int(c[1] * f), int(c[2] * f))


def lighter(c: RGB, f: float = 0.45) -> RGB:
    return tuple(int(v + (255 - v) * f) for v in c)  # type: ignore[return-value]


def _poly(cx: float, cy: float, r: float, n: int, rot: float = -math.pi / 2) -> list[tuple[float, float]]:
    return [(cx + r * math.cos(rot + 2 * math.pi * k / n), cy + r * math.sin(rot + 2 * math.pi * k / n)) for k in range(n)]


def _star(cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    pts = []
    for k in range(10):
        rr = r if k % 2 == 0 else r * 0.42
        a = -math.pi / 2 + math.pi * k / 5
        pts.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
    return pts


def _heart(cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    pts = []
    for k in range(80):
        t = 2 * math.pi * k / 80
        x = 16 * math.sin(t) ** 3
        y = 13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t)
        pts.append((cx + x * r / 17, cy - y * r / 17 - r * 0.05))
    return pts


def _shape(name: str) -> DrawFn:
    def draw(d: ImageDraw.ImageDraw, w: int, h: int, c: RGB, o: RGB) -> None:
        lw = max(2, min(w, h) // 40)
        cx, cy, r = w / 2, h / 2, min(w, h) / 2 - lw * 2
        if name in ("circle", "ellipse"):
            d.ellipse([lw, lw, w - lw, h - lw], fill=c, outline=o, width=lw)
        elif name in ("square", "rectangle"):
            d.rounded_rectangle([lw, lw, w - lw, h - lw], radius=lw * 2, fill=c, outline=o, width=lw)
        elif name == "triangle":
            d.polygon([(cx, lw * 2), (w - lw * 2, h - lw * 2), (lw * 2, h - lw * 2)], fill=c, outline=o, width=lw)
        elif name == "star":
            d.polygon(_star(cx, cy + r * 0.06, r), fill=c, outline=o, width=lw)
        elif name == "heart":
            d.polygon(_heart(cx, cy, r), fill=c, outline=o, width=lw)
        elif name == "hexagon":
            d.polygon(_poly(cx, cy, r, 6, 0), fill=c, outline=o, width=lw)
        elif name == "diamond":
            d.polygon([(cx, lw * 2), (w - lw * 2, cy), (cx, h - lw * 2), (lw * 2, cy)], fill=c, outline=o, width=lw)
        elif name == "cross":
            t = w * 0.32
            d.polygon([(cx - t / 2, lw), (cx + t / 2, lw), (cx + t / 2, cy - t / 2), (w - lw, cy - t / 2),
                       (w - lw, cy + t / 2), (cx + t / 2, cy + t / 2), (cx + t / 2, h - lw), (cx - t / 2, h - lw),
                       (cx - t / 2, cy + t / 2), (lw, cy + t / 2), (lw, cy - t / 2), (cx - t / 2, cy - t / 2)],
                      fill=c, outline=o, width=lw)
    return draw


def _hydrant(d: ImageDraw.ImageDraw, w: int, h: int, c: RGB, o: RGB) -> None:
    lw = max(2, min(w, h) // 30)
    d.rounded_rectangle([w * .05, h * .88, w * .95, h * .98], radius=lw, fill=c, outline=o, width=lw)
    d.rounded_rectangle([w * .2, h * .3, w * .8, h * .9], radius=lw * 3, fill=c, outline=o, width=lw)
    d.rectangle([w * .02, h * .45, w * .98, h * .6], fill=c, outline=o, width=lw)
    d.ellipse([w * .38, h * .46, w * .62, h * .6], fill=lighter(c), outline=o, width=lw)
    d.pieslice([w * .15, h * .08, w * .85, h * .5], 180, 360, fill=c, outline=o, width=lw)
    d.rectangle([w * .4, h * .02, w * .6, h * .12], fill=darker(c, .8), outline=o, width=lw)


def _meter(d: ImageDraw.ImageDraw, w: int, h: int, c: RGB, o: RGB) -> None:
    lw = max(2, min(w, h) // 15)
    d.rectangle([w * .4, h * .45, w * .6, h * .98], fill=darker(c, .7), outline=o, width=lw)
    d.rounded_rectangle([w * .05, h * .02, w * .95, h * .48], radius=w * .3, fill=c, outline=o, width=lw)
    d.rounded_rectangle([w * .2, h * .1, w * .8, h * .25], radius=lw, fill=(230, 240, 235), outline=o, width=lw)
    d.rectangle([w * .45, h * .3, w * .55, h * .4], fill=(30, 30, 30))


def _bench(d: ImageDraw.ImageDraw, w: int, h: int, c: RGB, o: RGB) -> None:
    lw = max(2, min(w, h) // 60)
    metal = (60, 60, 65)
    for x in (.12, .82):
        d.rectangle([w * x, h * .15, w * (x + .05), h * .98], fill=metal)
    for y in (.1, .28):
        d.rounded_rectangle([w * .03, h * y, w * .97, h * (y + .13)], radius=lw, fill=c, outline=o, width=lw)
    d.rounded_rectangle([0, h * .52, w, h * .66], radius=lw, fill=lighter(c, .15), outline=o, width=lw)


def _table(d: ImageDraw.ImageDraw, w: int, h: int, c: RGB, o: RGB) -> None:
    lw = max(2, min(w, h) // 60)
    for x in (.1, .84):
        d.rectangle([w * x, h * .25, w * (x + .06), h * .98], fill=darker(c, .75), outline=o, width=lw)
    d.rounded_rectangle([0, h * .12, w, h * .3], radius=lw * 2, fill=c, outline=o, width=lw)
    d.rectangle([w * .05, h * .3, w * .95, h * .38], fill=darker(c, .85), outline=o, width=lw)


def _remote(d: ImageDraw.ImageDraw, w: int, h: int, c: RGB, o: RGB) -> None:
    lw = max(2, min(w, h) // 12)
    d.rounded_rectangle([w * .05, h * .02, w * .95, h * .98], radius=w * .3, fill=c, outline=darker(c, .4), width=lw)
    d.ellipse([w * .3, h * .08, w * .7, h * .16], fill=(220, 40, 40))
    for row in range(5):
        for col in range(2):
            x, y = w * (.25 + col * .32), h * (.28 + row * .12)
            d.ellipse([x, y, x + w * .2, y + h * .06], fill=lighter(c, .6))


def _box_appliance(window: str) -> DrawFn:
    def draw(d: ImageDraw.ImageDraw, w: int, h: int, c: RGB, o: RGB) -> None:
        lw = max(2, min(w, h) // 40)
        d.rounded_rectangle([lw, lw, w - lw, h - lw], radius=lw * 3, fill=c, outline=o, width=lw)
        if window == "microwave":
            d.rounded_rectangle([w * .07, h * .14, w * .68, h * .86], radius=lw * 2, fill=(40, 45, 50), outline=o, width=lw)
            for k in range(4):
                d.ellipse([w * .76, h * (.18 + k * .17), w * .9, h * (.28 + k * .17)], fill=darker(c, .6))
        elif window == "oven":
            for k in range(4):
                d.ellipse([w * (.1 + k * .21), h * .05, w * (.22 + k * .21), h * .15], fill=darker(c, .5))
            d.rectangle([w * .08, h * .22, w * .92, h * .26], fill=darker(c, .6))
            d.rounded_rectangle([w * .12, h * .34, w * .88, h * .85], radius=lw * 2, fill=(40, 35, 35), outline=o, width=lw)
            d.rectangle([w * .2, h * .37, w * .8, h * .4], fill=lighter(c, .5))
        elif window == "fridge":
            d.line([lw, h * .38, w - lw, h * .38], fill=o, width=lw)
            d.rounded_rectangle([w * .78, h * .12, w * .86, h * .3], radius=lw, fill=darker(c, .6))
            d.rounded_rectangle([w * .78, h * .45, w * .86, h * .7], radius=lw, fill=darker(c, .6))
    return draw


def _toaster(d: ImageDraw.ImageDraw, w: int, h: int, c: RGB, o: RGB) -> None:
    lw = max(2, min(w, h) // 40)
    d.rounded_rectangle([w * .05, h * .25, w * .95, h * .95], radius=w * .15, fill=c, outline=o, width=lw)
    for x in (.22, .55):
        d.rounded_rectangle([w * x, h * .05, w * (x + .23), h * .32], radius=lw, fill=(205, 150, 80), outline=o, width=lw)
        d.rectangle([w * x, h * .25, w * (x + .23), h * .3], fill=darker(c, .4))
    d.rectangle([w * .85, h * .45, w * .98, h * .52], fill=darker(c, .5))


def _sink(d: ImageDraw.ImageDraw, w: int, h: int, c: RGB, o: RGB) -> None:
    lw = max(2, min(w, h) // 50)
    metal = (170, 175, 185)
    d.rounded_rectangle([w * .46, h * .05, w * .54, h * .35], radius=lw, fill=metal, outline=o, width=lw)
    d.rounded_rectangle([w * .46, h * .05, w * .7, h * .13], radius=lw, fill=metal, outline=o, width=lw)
    d.rounded_rectangle([0, h * .32, w, h * .45], radius=lw * 2, fill=lighter(c, .2), outline=o, width=lw)
    d.chord([w * .06, h * .05, w * .94, h * .95], 0, 180, fill=c, outline=o, width=lw)
    d.ellipse([w * .12, h * .36, w * .88, h * .5], fill=darker(c, .85), outline=o, width=lw)


def _drier(d: ImageDraw.ImageDraw, w: int, h: int, c: RGB, o: RGB) -> None:
    lw = max(2, min(w, h) // 40)
    d.rounded_rectangle([w * .25, h * .45, w * .45, h * .98], radius=w * .08, fill=darker(c, .85), outline=o, width=lw)
    d.rounded_rectangle([w * .05, h * .05, w * .78, h * .5], radius=h * .2, fill=c, outline=o, width=lw)
    d.rectangle([w * .72, h * .12, w * .95, h * .42], fill=darker(c, .7), outline=o, width=lw)
    d.ellipse([w * .12, h * .14, w * .32, h * .4], fill=lighter(c, .5), outline=o, width=lw)


def _sign(d: ImageDraw.ImageDraw, w: int, h: int, c: RGB, o: RGB) -> None:
    lw = max(2, min(w, h) // 60)
    wood = (120, 80, 45)
    d.rectangle([w * .46, h * .6, w * .54, h], fill=wood)
    d.rounded_rectangle([lw, lw, w - lw, h * .7], radius=lw * 3, fill=wood)
    d.rounded_rectangle([w * .04, h * .04, w * .96, h * .66], radius=lw * 2, fill=c, outline=darker(c, .7), width=lw)


#: fraction of an icon's height above the surface things are put on
TOP_INSETS: dict[str, float] = {"dining table": 0.12, "bench": 0.5, "sink": 0.32, "toaster": 0.05}

#: where quoted text goes on a carrier icon, as fractions of its box
TEXT_AREAS: dict[str, tuple[float, float, float, float]] = {"sign": (.08, .08, .92, .62)}

ICONS: dict[str, DrawFn] = {
    "fire hydrant": _hydrant, "parking meter": _meter, "bench": _bench, "dining table": _table,
    "remote": _remote, "microwave": _box_appliance("microwave"), "oven": _box_appliance("oven"),
    "toaster": _toaster, "sink": _sink, "refrigerator": _box_appliance("fridge"), "hair drier": _drier,
    "sign": _sign,
}
for _name in ("circle", "square", "rectangle", "triangle", "star", "heart", "hexagon", "diamond", "ellipse", "cross"):
    ICONS[_name] = _shape(_name)


def has_icon(cls: str) -> bool:
    return cls in ICONS


def icon_image(cls: str, rgb: RGB | None, width: int, height: int) -> Image.Image:
    """The vector icon of ``cls`` at width×height in ``rgb`` (natural color if None)."""
    if width * height <= 320 * 320:
        return _icon_image_cached(cls, rgb, width, height)
    return _draw_icon(cls, rgb, width, height)


@lru_cache(maxsize=256)
def _icon_image_cached(cls: str, rgb: RGB | None, width: int, height: int) -> Image.Image:
    return _draw_icon(cls, rgb, width, height)


def _draw_icon(cls: str, rgb: RGB | None, width: int, height: int) -> Image.Image:
    color = rgb or DEFAULT_COLORS.get(cls, (150, 150, 150))
    outline = darker(color) if sum(color) > 120 else (90, 90, 90)
    k = max(2.0, 48.0 / max(1, min(width, height)))  # draw big enough for every primitive, then scale down
    big = Image.new("RGBA", (int(max(1, width) * k), int(max(1, height) * k)), (0, 0, 0, 0))
    try:
        ICONS[cls](ImageDraw.Draw(big), big.width, big.height, color, outline)
    except ValueError:  # extreme aspect ratios: a flat silhouette instead of the detailed drawing
        big = Image.new("RGBA", big.size, color + (255,))
    return big.resize((max(1, width), max(1, height)), Image.LANCZOS)


def labelled_box(label: str, rgb: RGB | None, width: int, height: int) -> Image.Image:
    """Last-resort drawing for a class with neither glyph nor icon: a rounded box with its name."""
    color = rgb or (170, 170, 170)
    img = Image.new("RGBA", (max(1, width), max(1, height)), (0, 0, 0, 0))
    if width < 8 or height < 8:
        img.paste(color + (255,), (0, 0, img.width, img.height))
        return img
    d = ImageDraw.Draw(img)
    d.rounded_rectangle([1, 1, width - 2, height - 2], radius=max(2, width // 10), fill=color, outline=darker(color), width=2)
    d.text((width / 2, height / 2), label, fill=(0, 0, 0) if sum(color) > 380 else (255, 255, 255), anchor="mm")
    return img
