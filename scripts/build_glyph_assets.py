"""Pre-render the emoji glyphs the procedural engine draws into small PNGs under assets/glyphs/.

Source: Noto Color Emoji (SIL Open Font License 1.1), e.g. Debian's fonts-noto-color-emoji:
    apt-get download fonts-noto-color-emoji && dpkg-deb -x fonts-noto-color-emoji_*.deb /tmp/noto
    python scripts/build_glyph_assets.py --font /tmp/noto/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf
The studio then needs no emoji font at run time. Re-run after changing backends/procedural/lexicon.py.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backends.procedural.lexicon import all_glyphs  # noqa: E402

DEFAULT_FONT = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
GLYPH_SIDE = 96  # px, longer side of each stored glyph
BITMAP_SIZE = 109  # the only size the CBDT bitmap strike renders at


def render_glyph(font: ImageFont.FreeTypeFont, seq: str) -> Image.Image | None:
    """The glyph cropped to its ink and scaled to GLYPH_SIDE, or None when the font lacks it."""
    canvas = Image.new("RGBA", (180, 180), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((10, 10), seq + "\ufe0f", font=font, embedded_color=True)
    box = canvas.getchannel("A").getbbox()
    if box is None:
        return None
    glyph = canvas.crop(box)
    scale = GLYPH_SIDE / max(glyph.size)
    return glyph.resize((max(1, round(glyph.width * scale)), max(1, round(glyph.height * scale))), Image.LANCZOS)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--font", default=DEFAULT_FONT, help="path to NotoColorEmoji.ttf")
    ap.add_argument("--license", default=None, help="the font's copyright/license file to ship beside the glyphs")
    ap.add_argument("--out", default=str(ROOT / "assets" / "glyphs"))
    args = ap.parse_args()
    font = ImageFont.truetype(args.font, BITMAP_SIZE)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    missing = []
    for name, seq in sorted(all_glyphs().items()):
        img = render_glyph(font, seq)
        if img is None:
            missing.append(name)
            continue
        img.save(out / f"{name}.png", optimize=True)
    if args.license:
        shutil.copyfile(args.license, out / "LICENSE-NotoColorEmoji.txt")
    total = sum(p.stat().st_size for p in out.glob("*.png"))
    print(f"wrote {len(all_glyphs()) - len(missing)} glyphs ({total / 1024:.0f} KiB) to {out}")
    if missing:
        print("missing in font:", ", ".join(missing))
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
