"""Images as annotators receive them: decoded and re-encoded without any metadata chunk.

PNG text chunks can carry the backend's name (or a scene graph that gives it away); what reaches an
annotator's browser is pixels only, in files named by the stored image's content hash.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from PIL import Image


def view_image(studio, sha: str) -> Image.Image:
    """The stored image with every metadata chunk dropped (PNG text may name the model)."""
    img = studio.images.open(sha)
    return Image.frombytes(img.mode, img.size, img.tobytes())


_VIEW_DIR = Path(tempfile.gettempdir()) / "studio-annotate-view"


def view_file(studio, sha: str) -> str:
    """A PNG file of the stored image without metadata, made once per image (a temp-folder cache).

    Serving a ready file spares a PNG encode per request; the file name is the content hash of the
    stored image, which names no model.
    """
    path = _VIEW_DIR / sha[:2] / f"{sha}.png"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".png")
        with os.fdopen(fd, "wb") as fh:
            view_image(studio, sha).save(fh, format="PNG", compress_level=1)
        os.replace(tmp, path)
    return str(path)
