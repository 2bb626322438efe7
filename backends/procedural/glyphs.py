"""Object glyphs: the pre-rendered emoji PNGs under assets/glyphs, recolored to a requested color.

Recoloring keeps the glyph's shading: the dominant body color (the largest hue cluster, or the light
neutral area for mostly-white glyphs) takes the target hue and saturation, its brightness scaled.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from backends.procedural import lexicon as lx

GLYPH_DIR = Path(__file__).resolve().parents[2] / "assets" / "glyphs"


def glyph_path(name: str) -> Path:
    return GLYPH_DIR / f"{name.replace(' ', '_')}.png"


@lru_cache(maxsize=256)
def load_glyph(name: str) -> Image.Image | None:
    """The RGBA glyph for a class or scenery name, or None when none is shipped."""
    path = glyph_path(name)
    if not path.exists():
        return None
    with Image.open(path) as img:
        return img.convert("RGBA")


def has_glyph(cls: str) -> bool:
    return lx.glyph_for(cls) is not None and load_glyph(cls) is not None


def glyph_aspect(cls: str) -> float | None:
    """width / height of the class's glyph, or None when it has none."""
    g = load_glyph(cls) if lx.glyph_for(cls) else None
    return None if g is None else g.width / g.height


@lru_cache(maxsize=256)
def glyph_top_inset(cls: str) -> float:
    """Fraction of the glyph's height above its central top surface (where things placed on it rest)."""
    g = load_glyph(cls) if lx.glyph_for(cls) else None
    if g is None:
        return 0.0
    alpha = np.asarray(g.getchannel("A")) > 128
    h, w = alpha.shape
    tops = [int(np.argmax(col)) for col in alpha[:, int(w * 0.2): int(w * 0.8)].T if col.any()]
    return float(np.median(tops)) / h if tops else 0.0


def _rgb_to_hsv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    mx = rgb.max(-1)
    mn = rgb.min(-1)
    d = mx - mn
    h = np.zeros_like(mx)
    nz = d > 1e-6
    rm = nz & (mx == r)
    gm = nz & (mx == g) & ~rm
    bm = nz & ~rm & ~gm
    h[rm] = ((g - b)[rm] / d[rm]) % 6
    h[gm] = (b - r)[gm] / d[gm] + 2
    h[bm] = (r - g)[bm] / d[bm] + 4
    h = h / 6.0
    s = np.where(mx > 1e-6, d / np.maximum(mx, 1e-6), 0)
    return h, s, mx


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    i = np.floor(h * 6) % 6
    f = h * 6 - np.floor(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    out = np.zeros(h.shape + (3,))
    for k, (a, b, c) in enumerate([(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]):
        m = i == k
        out[m, 0], out[m, 1], out[m, 2] = a[m], b[m], c[m]
    return out


def body_mask(img: Image.Image) -> np.ndarray:
    """Pixels that make up the glyph's main body color (bool array)."""
    arr = np.asarray(img, dtype=np.float64) / 255.0
    alpha = arr[..., 3] > 0.5
    h, s, v = _rgb_to_hsv(arr[..., :3])
    chroma = alpha & (s > 0.28) & (v > 0.2)
    mask = np.zeros_like(alpha)
    if chroma.any():
        hist, _ = np.histogram(h[chroma], bins=24, range=(0, 1), weights=s[chroma])
        peak = (np.argmax(hist) + 0.5) / 24
        dist = np.minimum(np.abs(h - peak), 1 - np.abs(h - peak))
        mask = chroma & (dist < 0.09)
    neutral = alpha & (s < 0.18) & (v > 0.55)
    if neutral.sum() > 1.6 * mask.sum():
        mask = neutral
    return mask


def tint(img: Image.Image, rgb: tuple[int, int, int]) -> Image.Image:
    """Recolor the glyph's body to ``rgb``, keeping its shading and other details."""
    arr = np.asarray(img, dtype=np.float64) / 255.0
    mask = body_mask(img)
    if not mask.any():
        return img
    h, s, v = _rgb_to_hsv(arr[..., :3])
    th, ts, tv = (float(x[0]) for x in _rgb_to_hsv(np.array([[c / 255.0 for c in rgb]])))
    rel_v = v / max(float(np.median(v[mask])), 1e-3)
    new_v = np.clip(tv * rel_v, 0, 1)
    if ts < 0.12:  # black, white, gray: drop the hue
        new_s = np.zeros_like(s)
        if tv < 0.3:
            new_v = np.clip(0.1 + 0.25 * (rel_v - 0.6), 0.02, 0.45)
    else:
        rel_s = s / max(float(np.median(s[mask])), 1e-3) if s[mask].mean() > 0.15 else np.ones_like(s)
        new_s = np.clip(ts * rel_s, 0, 1)
    out = arr.copy()
    out[..., :3][mask] = _hsv_to_rgb(np.full_like(h, th), new_s, new_v)[mask]
    return Image.fromarray((out * 255 + 0.5).astype(np.uint8), "RGBA")


CACHE_MAX_PIXELS = 320 * 320  # bigger results are not kept, so the cache stays a few tens of MB


@lru_cache(maxsize=128)
def tinted_glyph(cls: str, rgb: tuple[int, int, int] | None) -> Image.Image | None:
    """The class glyph at its stored size, tinted to ``rgb`` (natural colors if None)."""
    base = load_glyph(cls)
    if base is None:
        return None
    return tint(base, rgb) if rgb is not None else base


@lru_cache(maxsize=256)
def _glyph_image_cached(cls: str, rgb: tuple[int, int, int] | None, width: int, height: int) -> Image.Image | None:
    img = tinted_glyph(cls, rgb)
    return None if img is None else img.resize((max(1, width), max(1, height)), Image.LANCZOS)


def glyph_image(cls: str, rgb: tuple[int, int, int] | None, width: int, height: int) -> Image.Image | None:
    """The class glyph tinted (if ``rgb``) and resized to width×height, or None if it has none."""
    if width * height <= CACHE_MAX_PIXELS:
        return _glyph_image_cached(cls, rgb, width, height)
    img = tinted_glyph(cls, rgb)
    return None if img is None else img.resize((max(1, width), max(1, height)), Image.LANCZOS)
