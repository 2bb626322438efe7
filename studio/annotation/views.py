"""Images as annotators receive them: decoded and re-encoded without any metadata chunk.

PNG text chunks can carry the backend's name (or a scene graph that gives it away); what reaches an
annotator's browser is pixels only, in files named by the stored image's content hash.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path

from PIL import Image


def view_image(studio, sha: str) -> Image.Image:
    """The stored image with every metadata chunk dropped (PNG text may name the model)."""
    img = studio.images.open(sha)
    return Image.frombytes(img.mode, img.size, img.tobytes())


VIEW_DIR = Path(tempfile.gettempdir()) / "studio-annotate-view"


# stored image id -> (its view file, when this process last saw it exist): looked at again after
# RECHECK_S, since a temp-folder cleaner may remove files
_made: dict[str, tuple[str, float]] = {}
RECHECK_S = 60.0


def view_path(sha: str) -> Path:
    """Where :func:`view_file` keeps the view of a stored image (it may not be made yet)."""
    name = hashlib.sha256(f"annotate-view:{sha}".encode()).hexdigest()
    return VIEW_DIR / name[:2] / f"{name}.png"


def _known(sha: str) -> str | None:
    hit = _made.get(sha)
    return hit[0] if hit is not None and time.monotonic() - hit[1] < RECHECK_S else None


def made(sha: str) -> bool:
    """Whether the view of ``sha`` exists (mostly a dictionary look-up: votes ask on every click)."""
    if _known(sha) is not None:
        return True
    path = view_path(sha)
    if path.exists():
        _made[sha] = (str(path), time.monotonic())
        return True
    return False


def view_file(studio, sha: str) -> str:
    """A PNG file of the stored image without metadata, made once per image (a temp-folder cache).

    Serving a ready file spares a PNG encode per request. The file is named by a one-way hash of the
    stored image's id, not the id itself: other tabs serve the store's files (with their metadata)
    by id, so an annotator must not learn an id from a view URL.
    """
    known = _known(sha)
    if known is not None:
        return known
    path = view_path(sha)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".png")
        with os.fdopen(fd, "wb") as fh:
            view_image(studio, sha).save(fh, format="PNG", compress_level=1)
        os.replace(tmp, path)
    _made[sha] = (str(path), time.monotonic())
    return str(path)
