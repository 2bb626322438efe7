"""Style words as real image transformations (pixel art, line art, sepia, watercolor, neon ...)."""
from __future__ import annotations

from typing import Callable

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageEnhance, ImageFilter, ImageOps


def pixel_art(img: Image.Image) -> Image.Image:
    w, h = img.size
    block = max(4, min(w, h) // 64)
    small = img.resize((max(1, w // block), max(1, h // block)), Image.BILINEAR)
    small = small.quantize(colors=24, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).convert("RGB")
    return small.resize((w, h), Image.NEAREST)


def line_art(img: Image.Image) -> Image.Image:
    gray = ImageOps.grayscale(img).filter(ImageFilter.SMOOTH)
    edges = gray.filter(ImageFilter.FIND_EDGES)
    edges = ImageOps.autocontrast(edges).point(lambda v: 255 if v > 40 else int(v * 4))
    return ImageOps.invert(edges).convert("RGB")


def monochrome(img: Image.Image) -> Image.Image:
    return ImageOps.autocontrast(ImageOps.grayscale(img)).convert("RGB")


def sepia(img: Image.Image) -> Image.Image:
    gray = ImageOps.grayscale(img)
    toned = ImageOps.colorize(gray, black=(45, 28, 12), white=(250, 235, 200), mid=(165, 125, 80))
    w, h = img.size
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.sqrt(((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2)
    vignette = np.clip(1.15 - 0.45 * r ** 2, 0.5, 1.0)[..., None]
    return Image.fromarray((np.asarray(toned, float) * vignette).astype(np.uint8), "RGB")


def watercolor(img: Image.Image) -> Image.Image:
    soft = img.filter(ImageFilter.MedianFilter(5)).filter(ImageFilter.GaussianBlur(1.5))
    soft = ImageOps.posterize(soft, 4)
    soft = Image.blend(soft, Image.new("RGB", img.size, (250, 246, 235)), 0.25)
    edges = ImageOps.invert(ImageOps.grayscale(img).filter(ImageFilter.FIND_EDGES)).convert("RGB")
    paper = np.random.default_rng(7).normal(0, 6, (img.height, img.width, 1))
    out = np.asarray(ImageChops.multiply(soft, edges), float) + paper
    return Image.fromarray(out.clip(0, 255).astype(np.uint8), "RGB")


def neon(img: Image.Image) -> Image.Image:
    dark = ImageEnhance.Brightness(img).enhance(0.35)
    edges = ImageOps.grayscale(img).filter(ImageFilter.FIND_EDGES)
    edges = ImageOps.autocontrast(edges)
    glow_src = ImageOps.colorize(edges, black=(0, 0, 0), white=(0, 255, 240), mid=(255, 40, 200))
    glow = glow_src.filter(ImageFilter.GaussianBlur(3))
    out = ImageChops.add(ImageChops.add(dark, glow), glow_src)
    return ImageEnhance.Color(out).enhance(1.8)


def mosaic(img: Image.Image) -> Image.Image:
    w, h = img.size
    tile = max(6, min(w, h) // 32)
    small = img.resize((max(1, w // tile), max(1, h // tile)), Image.BOX)
    out = small.resize((small.width * tile, small.height * tile), Image.NEAREST).resize((w, h), Image.NEAREST)
    d = ImageDraw.Draw(out)
    for x in range(0, w, tile):
        d.line([(x, 0), (x, h)], fill=(60, 60, 60), width=1)
    for y in range(0, h, tile):
        d.line([(0, y), (w, y)], fill=(60, 60, 60), width=1)
    return out


def cartoon(img: Image.Image) -> Image.Image:
    flat = ImageOps.posterize(img.filter(ImageFilter.MedianFilter(5)), 3)
    edges = ImageOps.grayscale(img).filter(ImageFilter.FIND_EDGES).point(lambda v: 0 if v > 35 else 255)
    return ImageChops.multiply(ImageEnhance.Color(flat).enhance(1.4), edges.convert("RGB"))


def pop_art(img: Image.Image) -> Image.Image:
    return ImageEnhance.Color(ImageOps.posterize(ImageEnhance.Contrast(img).enhance(1.5), 2)).enhance(2.0)


def oil_paint(img: Image.Image) -> Image.Image:
    return ImageEnhance.Color(img.filter(ImageFilter.ModeFilter(7)).filter(ImageFilter.SMOOTH_MORE)).enhance(1.2)


def blueprint(img: Image.Image) -> Image.Image:
    edges = ImageOps.autocontrast(ImageOps.grayscale(img).filter(ImageFilter.FIND_EDGES))
    out = ImageOps.colorize(edges, black=(18, 60, 140), white=(235, 245, 255))
    d = ImageDraw.Draw(out)
    step = max(8, img.width // 16)
    for x in range(0, img.width, step):
        d.line([(x, 0), (x, img.height)], fill=(40, 85, 165))
    for y in range(0, img.height, step):
        d.line([(0, y), (img.width, y)], fill=(40, 85, 165))
    return ImageChops.lighter(out, ImageOps.colorize(edges, black=(0, 0, 0), white=(235, 245, 255)))


STYLE_FUNCTIONS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "pixel-art": pixel_art, "line-art": line_art, "monochrome": monochrome, "sepia": sepia,
    "watercolor": watercolor, "neon": neon, "mosaic": mosaic, "cartoon": cartoon, "pop-art": pop_art,
    "oil-paint": oil_paint, "blueprint": blueprint,
}


def apply_styles(img: Image.Image, styles: list[str]) -> tuple[Image.Image, list[str]]:
    """Apply known styles in order to an RGB image; returns the image and unknown style names."""
    unknown = []
    for name in styles:
        fn = STYLE_FUNCTIONS.get(name)
        if fn is None:
            unknown.append(name)
            continue
        img = fn(img.convert("RGB"))
    return img, unknown
