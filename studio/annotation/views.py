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

The folder is a cache: a file is made again when it is missing. :func:`prune` (when a process makes its first
file, then at most hourly) removes the files no page has been handed for :data:`KEEP_FOR`, so
the folder does not grow with every image ever compared while a page keeps what it shows.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from PIL import Image, ImageOps

from studio.images import ImageStore

log = logging.getLogger(__name__)

VIEW_DIR = Path(tempfile.gettempdir()) / "studio-annotate-view"
BACKGROUND = (128, 128, 128)
#: a canvas smaller than this is enlarged by a whole factor with nearest-neighbour, so a 32-px model's
#: pixels fill the annotator's box as sharp squares instead of a blur or a stamp
MIN_VIEW_SIDE = 256
#: a view file no page was handed for this long is pruned (an assignment expires after 30 minutes;
#: a page left open longer shows what the browser loaded, and a reload makes the file again)
KEEP_FOR = timedelta(days=1)
#: how stale a handed file's time may get before it is touched again (keeps hot files to one stat)
TOUCH_EVERY = timedelta(hours=1)
_KEY = secrets.token_bytes(32)
_next_prune = 0.0  # time.monotonic() after which making a file prunes the folder first


def view_image(images: ImageStore, sha: str, canvas: tuple[int, int] | None = None) -> Image.Image:
    """The stored image as RGB pixels only, fitted into ``canvas`` (its own size when None)."""
    rgb = images.open(sha)  # decoded, upright, RGB
    if canvas is not None and rgb.size != tuple(canvas):
        rgb = ImageOps.pad(rgb, tuple(canvas), method=Image.Resampling.LANCZOS, color=BACKGROUND)
    factor = MIN_VIEW_SIDE // max(rgb.size)
    if factor >= 2:  # the same factor for both sides: they share the canvas
        rgb = rgb.resize((rgb.width * factor, rgb.height * factor), Image.Resampling.NEAREST)
    rgb.info = {}  # what the PNG writer would take from the stored file (an ICC profile, transparency): nothing
    return rgb


def view_file(images: ImageStore, sha: str, canvas: tuple[int, int] | None = None) -> str:
    """A PNG file of :func:`view_image`, made once per (image, canvas) in :data:`VIEW_DIR`."""
    tag = f"{sha}:{canvas[0]}x{canvas[1]}" if canvas is not None else sha
    path = VIEW_DIR / f"{hmac.new(_KEY, tag.encode(), hashlib.sha256).hexdigest()}.png"
    try:
        if time.time() - path.stat().st_mtime > TOUCH_EVERY.total_seconds():
            os.utime(path)  # handed to a page again: not for pruning yet
    except FileNotFoundError:
        _prune_now_and_then()
        VIEW_DIR.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=VIEW_DIR, prefix=".tmp-", suffix=".png")
        with os.fdopen(fd, "wb") as fh:
            view_image(images, sha, canvas).save(fh, format="PNG", compress_level=1)
        os.replace(tmp, path)
    return str(path)


def item_files(images: ImageStore, view) -> tuple[str, str, str | None]:
    """(left, right, source) files of an :class:`~studio.annotation.vote_types.ItemView`: both outputs
    on the item's canvas; the source image (the same for both sides) at its own size."""
    return (view_file(images, view.left_image, view.canvas), view_file(images, view.right_image, view.canvas),
            view_file(images, view.source_image) if view.source_image else None)


def prune(keep_for: timedelta = KEEP_FOR, folder: Path = VIEW_DIR) -> int:
    """Remove the view files (and left-over partial writes) not handed out for ``keep_for``; returns
    how many went. A handed file's time is at most :data:`TOUCH_EVERY` old, hence the margin."""
    cutoff = time.time() - (keep_for + TOUCH_EVERY).total_seconds()
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return 0
    for entry in entries:
        try:
            if entry.name.endswith(".png") and entry.is_file() and entry.stat().st_mtime < cutoff:
                os.unlink(entry.path)
                removed += 1
        except FileNotFoundError:  # pruned by another process meanwhile
            continue
    return removed


def _prune_now_and_then() -> None:
    """Prune when a file is made: the first time in a process, then at most once per :data:`TOUCH_EVERY`."""
    global _next_prune
    now = time.monotonic()
    if now < _next_prune:
        return
    _next_prune = now + TOUCH_EVERY.total_seconds()
    try:
        removed = prune()
    except OSError:  # a folder that cannot be listed must not stop a vote
        log.exception("could not prune %s", VIEW_DIR)
        return
    if removed:
        log.info("pruned %d view files older than %s from %s", removed, KEEP_FOR, VIEW_DIR)
