"""Image I/O for the editing chat: safe uploads, storing results, a small cache of decoded images."""
from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import Any

import numpy as np
from PIL import Image

from studio.db.models import StoredImage
from studio.images import StoredFile, fit_within, load_image
from studio.png import encode_png_fast

_CACHE_SIZE = 96
_caches: "weakref.WeakKeyDictionary[Any, _ImageCache]" = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


class _ImageCache:
    """Recently used images (and their analysis arrays) by SHA-256: the chat reads the last
    output again on the next turn."""

    def __init__(self) -> None:
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, sha: str) -> Any:
        with self._lock:
            img = self._items.get(sha)
            if img is not None:
                self._items.move_to_end(sha)
            return img

    def put(self, sha: str, img: Any) -> None:
        with self._lock:
            self._items[sha] = img
            self._items.move_to_end(sha)
            while len(self._items) > _CACHE_SIZE:
                self._items.popitem(last=False)


def _cache(studio) -> _ImageCache:
    with _caches_lock:
        cache = _caches.get(studio)
        if cache is None:
            cache = _caches[studio] = _ImageCache()
        return cache


def open_upload(studio, source: Any) -> tuple[Image.Image, list[str]]:
    """An uploaded file (path, bytes, PIL image) through the safe loader, resized to the working size.

    Raises studio.images.ImageLoadError with a message for the user; returns notices (resizes).
    """
    s = studio.settings
    img = load_image(source, max_bytes=s.max_upload_bytes, max_pixels=s.max_image_pixels)
    img, notice = fit_within(img, s.max_working_side)
    return img, [notice] if notice else []


def encode(img: Image.Image, text: dict[str, Any] | None = None) -> bytes:
    """Lossless PNG bytes by the fast writer (Sub filter, ISA-L deflate): a few ms at 512×512
    where Pillow's encoder takes several times that. Text entries of ``img.info`` (e.g. a
    procedural scene graph) and ``text`` become PNG text chunks."""
    return encode_png_fast(img, text)


def write(studio, data: bytes, img: Image.Image) -> StoredFile:
    """Put encoded bytes in the image store (no database row) and cache the decoded image."""
    f = studio.images.put_bytes(data, fmt="PNG", size=img.size)
    _cache(studio).put(f.sha256, img)
    return f


def image_values(f: StoredFile) -> dict[str, Any]:
    """The ``images`` table row of a stored file, as column values."""
    return dict(sha256=f.sha256, rel_path=f.rel_path, width=f.width, height=f.height,
                format=f.format, size_bytes=f.size_bytes)


def image_row(f: StoredFile) -> StoredImage:
    """The ``images`` table row for a stored file."""
    return StoredImage(**image_values(f))


def store(studio, img: Image.Image, text: dict[str, Any] | None = None) -> str:
    """Store an image (PNG, content-addressed, recorded in the images table); returns its SHA-256."""
    f = write(studio, encode(img, text), img)
    studio.samples.record_file(f)
    return f.sha256


def open_stored(studio, sha: str) -> Image.Image:
    """A stored image by SHA-256 (cached)."""
    cache = _cache(studio)
    img = cache.get(sha)
    if img is None:
        img = studio.images.open(sha)
        cache.put(sha, img)
    return img


def analysis_array(studio, sha: str, img: Image.Image | None = None) -> np.ndarray:
    """The drift-analysis array of a stored image (cached: each output is the next turn's input)."""
    from studio.editing.drift import analysis_size, to_array

    cache = _cache(studio)
    key = f"analysis:{sha}"
    arr = cache.get(key)
    if arr is None:
        img = img if img is not None else open_stored(studio, sha)
        arr = to_array(img, analysis_size(img.size))
        cache.put(key, arr)
    return arr


def remember_analysis(studio, sha: str, arr: np.ndarray) -> None:
    """Cache an analysis array computed elsewhere (the output of a turn)."""
    _cache(studio).put(f"analysis:{sha}", arr)


def drift_maps(studio, source_sha: str, sha: str, source_arr: np.ndarray):
    """The cached drift maps of image ``sha`` against the session source (None when not cached)."""
    from studio.editing.drift import DriftMaps

    if sha == source_sha:
        return DriftMaps.identity(source_arr)
    return _cache(studio).get(f"drift:{source_sha}:{sha}")


def remember_drift_maps(studio, source_sha: str, sha: str, maps: Any) -> None:
    _cache(studio).put(f"drift:{source_sha}:{sha}", maps)


def store_region(studio, region: np.ndarray) -> str:
    """Store a boolean edit region as a black/white PNG file (internal: no images row); returns its SHA-256."""
    img = Image.fromarray(region.astype(np.uint8) * 255, mode="L")  # 8-bit: the fast writer's path
    return write(studio, encode(img), img).sha256


def open_region(studio, sha: str) -> np.ndarray:
    return np.asarray(open_stored(studio, sha).convert("L")) > 127
