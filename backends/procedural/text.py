"""Text elements: font discovery (shipped, Debian or Pillow's built-in), fitting text into a box,
bold/italic, multi-line wrapping and glyph coverage checks for non-Latin scripts."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

FONT_DIRS = [
    Path(__file__).resolve().parents[2] / "assets" / "fonts",
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/truetype/noto"),
    Path("/usr/share/fonts/opentype/noto"),
    Path("/usr/share/fonts/truetype/liberation"),
]
#: (family, weight, style) -> file names tried in order
FONT_FILES: dict[tuple[str, str, str], list[str]] = {
    ("sans", "normal", "normal"): ["DejaVuSans.ttf", "NotoSans-Regular.ttf", "LiberationSans-Regular.ttf"],
    ("sans", "bold", "normal"): ["DejaVuSans-Bold.ttf", "NotoSans-Bold.ttf", "LiberationSans-Bold.ttf"],
    ("sans", "normal", "italic"): ["DejaVuSans-Oblique.ttf", "NotoSans-Italic.ttf", "LiberationSans-Italic.ttf"],
    ("sans", "bold", "italic"): ["DejaVuSans-BoldOblique.ttf", "NotoSans-BoldItalic.ttf"],
    ("serif", "normal", "normal"): ["DejaVuSerif.ttf", "NotoSerif-Regular.ttf", "LiberationSerif-Regular.ttf"],
    ("serif", "bold", "normal"): ["DejaVuSerif-Bold.ttf", "NotoSerif-Bold.ttf"],
    ("serif", "normal", "italic"): ["DejaVuSerif-Italic.ttf", "NotoSerif-Italic.ttf"],
    ("serif", "bold", "italic"): ["DejaVuSerif-BoldItalic.ttf", "NotoSerif-BoldItalic.ttf"],
    ("mono", "normal", "normal"): ["DejaVuSansMono.ttf", "LiberationMono-Regular.ttf"],
    ("mono", "bold", "normal"): ["DejaVuSansMono-Bold.ttf", "LiberationMono-Bold.ttf"],
    ("mono", "normal", "italic"): ["DejaVuSansMono-Oblique.ttf"],
    ("mono", "bold", "italic"): ["DejaVuSansMono-BoldOblique.ttf"],
}
#: fonts tried for characters the chosen font lacks (CJK, Arabic, Devanagari ...)
FALLBACK_FILES = [
    "NotoSansCJK-Regular.ttc", "NotoSansCJKsc-Regular.otf", "NotoSansArabic-Regular.ttf",
    "NotoSansDevanagari-Regular.ttf", "NotoSansHebrew-Regular.ttf", "NotoSansThai-Regular.ttf",
    "NotoSansBengali-Regular.ttf", "NotoSansTamil-Regular.ttf", "NotoSansGeorgian-Regular.ttf",
    "NotoSansArmenian-Regular.ttf", "NotoSansEthiopic-Regular.ttf", "NotoSans-Regular.ttf", "DejaVuSans.ttf",
]
PROBE_SIZE = 24


@lru_cache(maxsize=64)
def find_font_file(name: str) -> str | None:
    for folder in FONT_DIRS:
        p = folder / name
        if p.exists():
            return str(p)
    return None


@lru_cache(maxsize=256)
def _load(path: str | None, size: int) -> ImageFont.FreeTypeFont:
    if path is None:
        return ImageFont.load_default(size)  # type: ignore[return-value]
    return ImageFont.truetype(path, size)


def font_candidates(family: str, weight: str, style: str) -> list[tuple[str | None, bool, bool]]:
    """(path, fake_bold, fake_italic) in preference order; None path = Pillow's built-in font."""
    out: list[tuple[str | None, bool, bool]] = []
    for w, s in ((weight, style), ("normal", style), (weight, "normal"), ("normal", "normal")):
        for name in FONT_FILES.get((family, w, s), []) + FONT_FILES.get(("sans", w, s), []):
            path = find_font_file(name)
            if path and all(c[0] != path for c in out):
                out.append((path, weight == "bold" and w != "bold", style == "italic" and s != "italic"))
    for name in FALLBACK_FILES:
        path = find_font_file(name)
        if path and all(c[0] != path for c in out):
            out.append((path, weight == "bold", style == "italic"))
    out.append((None, weight == "bold", style == "italic"))
    return out


@lru_cache(maxsize=64)
def _notdef(path: str | None) -> bytes:
    font = _load(path, PROBE_SIZE)
    return bytes(font.getmask("\U0010FFFD"))


@lru_cache(maxsize=20000)
def covers(path: str | None, ch: str) -> bool:
    """Whether the font draws ``ch`` with a real glyph (not the missing-glyph box)."""
    if ch.isspace():
        return True
    font = _load(path, PROBE_SIZE)
    try:
        mask = font.getmask(ch)
    except Exception:
        return False
    return mask.size[0] > 0 and bytes(mask) != _notdef(path)


def choose_font(text: str, family: str, weight: str, style: str) -> tuple[str | None, bool, bool, str]:
    """The best font for ``text``: (path, fake_bold, fake_italic, missing characters)."""
    best: tuple[int, tuple[str | None, bool, bool], str] | None = None
    chars = sorted(set(text))
    for cand in font_candidates(family, weight, style):
        missing = "".join(c for c in chars if not covers(cand[0], c))
        if not missing:
            return (*cand, "")
        if best is None or len(missing) < best[0]:
            best = (len(missing), cand, missing)
    assert best is not None
    return (*best[1], best[2])


def apply_case(text: str, case: str | None) -> str:
    return text.upper() if case == "upper" else text.lower() if case == "lower" else text


def wrap_lines(text: str, font: ImageFont.FreeTypeFont, max_width: float) -> list[str]:
    """Explicit newlines kept; long lines wrapped at spaces (or characters, for CJK) to max_width."""
    lines: list[str] = []
    for para in text.split("\n"):
        words = para.split(" ") if " " in para else list(para) if font.getlength(para) > max_width else [para]
        joiner = " " if " " in para else ""
        cur = ""
        for word in words:
            trial = f"{cur}{joiner}{word}" if cur else word
            if cur and font.getlength(trial) > max_width:
                lines.append(cur)
                cur = word
            else:
                cur = trial
        lines.append(cur)
    return lines


def fit_text(text: str, box: list[float], path: str | None, max_size: int | None = None) -> tuple[int, list[str]]:
    """Largest font size (and wrapped lines) at which ``text`` fits inside ``box``."""
    bw, bh = max(4.0, box[2] - box[0]), max(4.0, box[3] - box[1])
    hi = int(max_size or bh)
    lo = 6
    best = (lo, wrap_lines(text, _load(path, lo), bw))
    while lo <= hi:
        mid = (lo + hi) // 2
        font = _load(path, mid)
        lines = wrap_lines(text, font, bw)
        width = max((font.getlength(line) for line in lines), default=0)
        height = len(lines) * mid * 1.2
        if width <= bw and height <= bh:
            best = (mid, lines)
            lo = mid + 1
        else:
            hi = mid - 1
    return best


def layout_text(element: dict[str, Any]) -> dict[str, Any]:
    """Fill in font file, size, lines and uncovered characters of a text element (in place)."""
    text = apply_case(element["text"], element.get("case"))
    path, fake_bold, fake_italic, missing = choose_font(
        text, element.get("family", "sans"), element.get("weight", "normal"), element.get("style", "normal")
    )
    size, lines = fit_text(text, element["bbox"], path, element.get("max_font_size"))
    element.update(
        font=Path(path).name if path else "pillow-default", font_size=size, lines=lines,
        fake_bold=fake_bold, fake_italic=fake_italic, missing_glyphs=missing,
    )
    return element


def draw_text(canvas: Image.Image, element: dict[str, Any], rgb: tuple[int, int, int]) -> None:
    """Draw a laid-out text element centred in its box onto an RGB/RGBA canvas."""
    name = element.get("font")
    path = None if name in (None, "pillow-default") else find_font_file(name)
    size = int(element.get("font_size", 16))
    font = _load(path, max(4, size))
    x0, y0, x1, y1 = element["bbox"]
    lines = element.get("lines") or [element["text"]]
    stroke = max(1, size // 22) if element.get("fake_bold") else 0
    layer = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    line_h = size * 1.2
    top = (y0 + y1) / 2 - line_h * len(lines) / 2 + line_h / 2
    for k, line in enumerate(lines):
        d.text(((x0 + x1) / 2, top + k * line_h), line, font=font, fill=rgb + (255,), anchor="mm",
               stroke_width=stroke, stroke_fill=rgb + (255,))
    if element.get("fake_italic"):
        cy = (y0 + y1) / 2
        layer = layer.transform(layer.size, Image.AFFINE, (1, 0.22, -0.22 * cy, 0, 1, 0), Image.BICUBIC)
    if canvas.mode == "RGBA":
        canvas.alpha_composite(layer)
    else:
        canvas.paste(layer, (0, 0), layer)
