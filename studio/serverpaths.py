"""Paths on the server typed into the UI: read only inside the folders an admin allowed.

The data folder is always allowed; ``STUDIO_SERVER_READ_DIRS`` (colon or comma separated) names any
others. Symlinks are resolved before the check, and a missing, unreadable or outside path gets the
same message, so nobody learns which files exist elsewhere on the server.
"""
from __future__ import annotations

import os
import re
from pathlib import Path, PurePath

from studio.settings import ASSETS_DIR

REFUSED = ("cannot read {raw!r}: a path on the server must name a readable file or folder inside the data "
           "folder or a folder listed in STUDIO_SERVER_READ_DIRS (or upload the file instead)")


class ServerPathRefused(ValueError):
    """The path is missing, unreadable or outside the allowed folders (one message for all three)."""


#: data the studio ships (the CPU presets' datasets): readable by anyone, so a built-in preset launches
SHIPPED_DATASETS = ASSETS_DIR / "datasets"


def allowed_dirs(settings) -> list[Path]:
    """The data folder, the studio's shipped datasets and the folders of ``settings.server_read_dirs``, resolved."""
    named = [d.strip() for d in re.split(r"[:,]", settings.server_read_dirs or "") if d.strip()]
    return [Path(d).expanduser().resolve() for d in [settings.data_dir, SHIPPED_DATASETS, *named]]


def confine(settings, raw: str) -> Path:
    """The resolved path, when it lies inside an allowed folder and can be read; else ServerPathRefused."""
    text = (raw or "").strip()
    refused = ServerPathRefused(REFUSED.format(raw=text))
    if not text:
        raise refused
    p = Path(text).expanduser()
    if not p.is_absolute():
        p = Path(settings.data_dir) / p
    try:
        full = p.resolve(strict=True)
    except (OSError, RuntimeError):
        raise refused from None
    if not any(full == d or d in full.parents for d in allowed_dirs(settings)):
        raise refused
    try:
        if full.is_dir():
            os.listdir(full)
        else:
            with full.open("rb") as fh:
                fh.read(1)
    except OSError:
        raise refused from None
    return full


def inside(base: Path, rel: str) -> Path | None:
    """``rel`` (a path written inside an imported file) resolved inside ``base``; None when it is absolute
    or escapes ``base`` (by ``..`` or a symlink)."""
    if not rel or PurePath(rel).is_absolute() or PurePath(rel).anchor:
        return None
    root = Path(base).resolve()
    full = (root / rel).resolve()
    return full if full == root or root in full.parents else None
