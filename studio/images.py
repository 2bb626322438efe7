"""Safe image loading and the content-addressed image store.

Every tab that accepts an image goes through :func:`load_image`: byte and pixel limits checked
*before* decoding (decompression bombs), a real format check, EXIF orientation applied, and one
clear :class:`ImageLoadError` for anything that is not a whole, supported image.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import threading
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

ALLOWED_FORMATS = frozenset({"PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF"})
DEFAULT_MAX_BYTES = 25 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000
_PROBE_LOCK = threading.Lock()


class ImageLoadError(ValueError):
    """The input is not an image the studio can use; the message says why, for the user."""


def _read_bytes(source: str | os.PathLike | bytes | BinaryIO, max_bytes: int) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray)):
        data, name = bytes(source), "upload"
    elif hasattr(source, "read"):
        data, name = source.read(max_bytes + 1), getattr(source, "name", "upload")
    else:
        path = Path(source)
        name = path.name
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise ImageLoadError(f"{name}: cannot open ({exc.strerror or exc})") from None
        if size > max_bytes:
            raise ImageLoadError(
                f"{name}: file is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit"
            )
        data = path.read_bytes()
    if len(data) > max_bytes:
        raise ImageLoadError(f"{name}: file is over the {max_bytes / 1e6:.0f} MB limit")
    if not data:
        raise ImageLoadError(f"{name}: the file is empty")
    return data, str(name)


def load_image(
    source: str | os.PathLike | bytes | BinaryIO | Image.Image,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    mode: str | None = "RGB",
) -> Image.Image:
    """Open, validate and fully decode an image; returns it upright (EXIF) in ``mode``.

    Text chunks of PNGs (e.g. ``scene_graph``) survive in ``image.info``.
    """
    if isinstance(source, Image.Image):
        w, h = source.size
        if w * h > max_pixels:
            raise ImageLoadError(f"image is {w}×{h} pixels, over the {max_pixels:,} pixel limit")
        img = source
        info = dict(source.info)
    else:
        data, name = _read_bytes(source, max_bytes)
        try:
            # Opening only parses the header; lift Pillow's global bomb check for that moment so
            # we can report the real size, then enforce our own limit before any decoding.
            with _PROBE_LOCK, warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                old_limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
                try:
                    probe = Image.open(io.BytesIO(data))
                finally:
                    Image.MAX_IMAGE_PIXELS = old_limit
                fmt = probe.format
                w, h = probe.size
        except UnidentifiedImageError:
            raise ImageLoadError(
                f"{name}: not a supported image (allowed: {', '.join(sorted(ALLOWED_FORMATS))})"
            ) from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImageLoadError(f"{name}: unreadable image header ({exc})") from None
        if fmt not in ALLOWED_FORMATS:
            raise ImageLoadError(f"{name}: {fmt} images are not accepted")
        if w <= 0 or h <= 0 or w * h > max_pixels:
            raise ImageLoadError(
                f"{name}: image is {w}×{h} pixels, over the {max_pixels:,} pixel limit"
            )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                img = Image.open(io.BytesIO(data))
                img.load()
        except Image.DecompressionBombError as exc:
            raise ImageLoadError(f"{name}: image is over the pixel limit ({exc})") from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImageLoadError(f"{name}: the image is truncated or corrupt ({exc})") from None
        info = dict(img.info)
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:  # broken EXIF blocks must not make an otherwise good image unusable
        pass
    if mode and img.mode != mode:
        if mode == "RGB" and img.mode in ("RGBA", "LA", "P"):
            rgba = img.convert("RGBA")
            bg = Image.new("RGB", rgba.size, (255, 255, 255))
            bg.paste(rgba, mask=rgba.split()[3])
            img = bg
        else:
            img = img.convert(mode)
    img.info.update({k: v for k, v in info.items() if isinstance(v, str)})
    return img


def fit_within(img: Image.Image, max_side: int) -> tuple[Image.Image, str | None]:
    """Downscale so the longer side is at most ``max_side``; returns the image and a notice."""
    w, h = img.size
    if max(w, h) <= max_side:
        return img, None
    scale = max_side / max(w, h)
    new = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.LANCZOS)
    new.info.update(img.info)
    return new, f"image was {w}×{h}; resized to {new.width}×{new.height} to stay within {max_side}px"


#: zlib settings of every PNG the studio writes from pixels. One setting everywhere, because a stored image
#: is named by the SHA-256 of its bytes: the same pixels (and text) written by any tab must give the same
#: name. Level 1 with the run-length strategy is the fastest Pillow offers that still compresses; on filtered
#: rows (Pillow picks a PNG filter per row) it compresses about as well as the default level (bench/README.md).
PNG_LEVEL = 1
PNG_STRATEGY = zlib.Z_RLE


def encode_png(img: Image.Image, text: dict[str, Any] | None = None, compress_level: int = PNG_LEVEL) -> bytes:
    """PNG bytes with optional text chunks (dict values are stored as JSON), lossless."""
    meta = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        meta.add_itxt(key, value if isinstance(value, str) else json.dumps(value, sort_keys=True))
    buf = io.BytesIO()
    img.save(buf, format="PNG", pnginfo=meta, compress_level=compress_level, compress_type=PNG_STRATEGY)
    return buf.getvalue()


def read_png_json(img: Image.Image, key: str) -> Any | None:
    """A JSON text chunk of a PNG (e.g. ``scene_graph``) or None."""
    raw = img.info.get(key)
    if not isinstance(raw, str):
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    path: Path
    rel_path: str
    width: int
    height: int
    format: str
    size_bytes: int


class ImageStore:
    """Images under one folder, named by the SHA-256 of their bytes (``ab/cd/abcd….png``)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path_for(self, sha256: str, ext: str = "png") -> Path:
        return self.root / sha256[:2] / sha256[2:4] / f"{sha256}.{ext}"

    def put_bytes(self, data: bytes, *, fmt: str = "PNG", size: tuple[int, int] | None = None) -> StoredFile:
        sha = hashlib.sha256(data).hexdigest()
        ext = {"JPEG": "jpg"}.get(fmt, fmt.lower())
        path = self.path_for(sha, ext)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        if size is None:
            with Image.open(io.BytesIO(data)) as probe:
                size = probe.size
        return StoredFile(sha, path, str(path.relative_to(self.root)), size[0], size[1], fmt, len(data))

    def put(self, img: Image.Image, text: dict[str, Any] | None = None) -> StoredFile:
        """Store as PNG (with optional text chunks such as the scene graph)."""
        return self.put_bytes(encode_png(img, text), fmt="PNG", size=img.size)

    def open(self, sha256: str) -> Image.Image:
        for ext in ("png", "jpg", "webp", "gif", "bmp", "tiff"):
            p = self.path_for(sha256, ext)
            if p.exists():
                return load_image(p, max_bytes=1 << 31, max_pixels=1 << 31)
        raise ImageLoadError(f"image {sha256[:12]}… is not in the store")

    def find(self, sha256: str) -> Path | None:
        for ext in ("png", "jpg", "webp", "gif", "bmp", "tiff"):
            p = self.path_for(sha256, ext)
            if p.exists():
                return p
        return None
