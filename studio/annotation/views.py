"""Images as annotators receive them: both sides of a comparison on one canvas, as PNG, without metadata.

What reaches an annotator's browser before the vote must not tell the two models apart:
- pixels only: every image is decoded and re-encoded, so no PNG text, EXIF or ICC chunk survives
  (the store keeps the originals, untouched; they may name the backend);
- one size and one format for both sides: each output is scaled to fit the item's canvas (the
  larger width and height of the two) and centred on a neutral background, then written as an RGB
  PNG, so neither the pixel size nor the file format nor the colour mode names a model;
- names that say nothing: a view file is named by a keyed hash of the stored image's id and the
  canvas (the key lives in this process only), so a name can be neither read back to a stored image
  nor matched with the store's own URLs, which other tabs serve.

Both sides are made in the same request, so the time a first showing takes is no signal either.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import tempfile
from pathlib import Path

from PIL import Image, ImageOps

VIEW_DIR = Path(tempfile.gettempdir()) / "studio-annotate-view"
BACKGROUND = (128, 128, 128)
#: a canvas smaller than this is enlarged by a whole factor with nearest-neighbour, so a 32-px model's
#: pixels fill the annotator's box as sharp squares instead of a blur or a stamp
MIN_VIEW_SIDE = 256
_KEY = secrets.token_bytes(32)


def view_image(studio, sha: str, canvas: tuple[int, int] | None = None) -> Image.Image:
    """The stored image as RGB pixels only, fitted into ``canvas`` (its own size when None)."""
    with studio.images.open(sha) as img:
        rgb = img.convert("RGB")
    if canvas is not None and rgb.size != tuple(canvas):
        rgb = ImageOps.pad(rgb, tuple(canvas), method=Image.Resampling.LANCZOS, color=BACKGROUND)
    factor = MIN_VIEW_SIDE // max(rgb.size)
    if factor >= 2:  # the same factor for both sides: they share the canvas
        rgb = rgb.resize((rgb.width * factor, rgb.height * factor), Image.Resampling.NEAREST)
    return Image.frombytes("RGB", rgb.size, rgb.tobytes())  # a new image: no info carried over


def view_file(studio, sha: str, canvas: tuple[int, int] | None = None) -> str:
    """A PNG file of :func:`view_image`, made once per (image, canvas) in a temp folder."""
    tag = f"{sha}:{canvas[0]}x{canvas[1]}" if canvas is not None else sha
    path = VIEW_DIR / f"{hmac.new(_KEY, tag.encode(), hashlib.sha256).hexdigest()}.png"
    if not path.exists():
        VIEW_DIR.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=VIEW_DIR, prefix=".tmp-", suffix=".png")
        with os.fdopen(fd, "wb") as fh:
            view_image(studio, sha, canvas).save(fh, format="PNG", compress_level=1)
        os.replace(tmp, path)
    return str(path)


def item_files(studio, view) -> tuple[str, str, str | None]:
    """(left, right, source) files of an :class:`~studio.annotation.voting.ItemView`: both outputs
    on the item's canvas; the source image (the same for both sides) at its own size."""
    return (view_file(studio, view.left_image, view.canvas), view_file(studio, view.right_image, view.canvas),
            view_file(studio, view.source_image) if view.source_image else None)
