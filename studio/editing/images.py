"""Image I/O for the editing chat: safe uploads, storing results, a small cache of decoded images."""
from __future__ import annotations

import threading
import weakref
from typing import Any

import numpy as np
from cachetools import LRUCache
from PIL import Image

from studio.images import StoredFile, encode_png, fit_within, load_image

#: decoded images and analysis arrays kept per studio: the chat reads the last output again next turn
CACHE_ITEMS = 96
#: zlib level for the PNGs a turn writes: the user waits on them, and level 1 is the fastest that compresses
TURN_PNG_LEVEL = 1


class _Cache:
    """An LRU of recently used images (and their analysis arrays) by key, safe across threads."""

    def __init__(self) -> None:
        self._items: LRUCache = LRUCache(maxsize=CACHE_ITEMS)
        self._lock = threading.Lock()

    def get(self, key: str) -> Any:
        with self._lock:
            return self._items.get(key)

    def put(self, key: str, value: Any) -> None:
        with self._lock:
            self._items[key] = value


_caches: "weakref.WeakKeyDictionary[Any, _Cache]" = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def _cache(studio) -> _Cache:
    with _caches_lock:
        cache = _caches.get(studio)
        if cache is None:
            cache = _caches[studio] = _Cache()
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
    """Lossless PNG bytes at the fast level; text entries of ``img.info`` (e.g. a procedural scene graph)
    and ``text`` become PNG text chunks."""
    chunks = {k: v for k, v in img.info.items() if isinstance(k, str) and isinstance(v, str)}
    chunks.update(text or {})
    return encode_png(img, chunks, compress_level=TURN_PNG_LEVEL)


def write(studio, data: bytes, img: Image.Image) -> StoredFile:
    """Put encoded bytes in the image store (no database row) and cache the decoded image."""
    f = studio.images.put_bytes(data, fmt="PNG", size=img.size)
    _cache(studio).put(f.sha256, img)
    return f


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
    img = Image.fromarray(region.astype(np.uint8) * 255, mode="L")
    return write(studio, encode(img), img).sha256


def open_region(studio, sha: str) -> np.ndarray:
    return np.asarray(open_stored(studio, sha).convert("L")) > 127
