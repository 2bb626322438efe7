"""Image I/O for the editing chat: safe uploads, storing results, a small cache of decoded images."""
from __future__ import annotations

import threading
from typing import Any

import numpy as np
from cachetools import LRUCache
from PIL import Image

from studio.images import ImageStore, StoredFile, encode_png, fit_within, load_image
from studio.samples import SampleStore
from studio.settings import Settings

#: decoded images and analysis arrays kept per studio: the chat reads the last output again next turn
CACHE_ITEMS = 96


def encode(img: Image.Image, text: dict[str, Any] | None = None) -> bytes:
    """Lossless PNG bytes; text entries of ``img.info`` (e.g. a procedural scene graph) and ``text`` become
    PNG text chunks."""
    chunks = {k: v for k, v in img.info.items() if isinstance(k, str) and isinstance(v, str)}
    chunks.update(text or {})
    return encode_png(img, chunks)


class EditImages:
    """The edit chat's images: uploads through the safe loader, results stored content-addressed, and an LRU
    of decoded images, analysis arrays and drift maps (the chat reads the last output again next turn)."""

    def __init__(self, images: ImageStore, samples: SampleStore, settings: Settings) -> None:
        self.images = images
        self.samples = samples
        self.settings = settings
        self._items: LRUCache = LRUCache(maxsize=CACHE_ITEMS)
        self._lock = threading.Lock()

    def _get(self, key: str) -> Any:
        with self._lock:
            return self._items.get(key)

    def _put(self, key: str, value: Any) -> None:
        with self._lock:
            self._items[key] = value

    def open_upload(self, source: Any) -> tuple[Image.Image, list[str]]:
        """An uploaded file (path, bytes, PIL image) through the safe loader, resized to the working size.

        Raises studio.images.ImageLoadError with a message for the user; returns notices (resizes).
        """
        s = self.settings
        img = load_image(source, max_bytes=s.max_upload_bytes, max_pixels=s.max_image_pixels)
        img, notice = fit_within(img, s.max_working_side)
        return img, [notice] if notice else []

    def write(self, data: bytes, img: Image.Image) -> StoredFile:
        """Put encoded bytes in the image store (no database row) and cache the decoded image."""
        f = self.images.put_bytes(data, fmt="PNG", size=img.size)
        self._put(f.sha256, img)
        return f

    def record(self, files: list[StoredFile], conn: Any = None) -> None:
        """Record written files in the images table (in ``conn``'s transaction when given)."""
        self.samples.record_files(files, conn=conn)

    def store(self, img: Image.Image, text: dict[str, Any] | None = None) -> str:
        """Store an image (PNG, content-addressed, recorded in the images table); returns its SHA-256."""
        f = self.write(encode(img, text), img)
        self.samples.record_file(f)
        return f.sha256

    def open_stored(self, sha: str) -> Image.Image:
        """A stored image by SHA-256 (cached)."""
        img = self._get(sha)
        if img is None:
            img = self.images.open(sha)
            self._put(sha, img)
        return img

    def analysis_array(self, sha: str, img: Image.Image | None = None) -> np.ndarray:
        """The drift-analysis array of a stored image (cached: each output is the next turn's input)."""
        from studio.editing.drift import analysis_size, to_array

        key = f"analysis:{sha}"
        arr = self._get(key)
        if arr is None:
            img = img if img is not None else self.open_stored(sha)
            arr = to_array(img, analysis_size(img.size))
            self._put(key, arr)
        return arr

    def remember_analysis(self, sha: str, arr: np.ndarray) -> None:
        """Cache an analysis array computed elsewhere (the output of a turn)."""
        self._put(f"analysis:{sha}", arr)

    def drift_maps(self, source_sha: str, sha: str, source_arr: np.ndarray):
        """The cached drift maps of image ``sha`` against the session source (None when not cached)."""
        from studio.editing.drift import DriftMaps

        if sha == source_sha:
            return DriftMaps.identity(source_arr)
        return self._get(f"drift:{source_sha}:{sha}")

    def remember_drift_maps(self, source_sha: str, sha: str, maps: Any) -> None:
        self._put(f"drift:{source_sha}:{sha}", maps)

    def store_region(self, region: np.ndarray) -> str:
        """Store a boolean edit region as a 1-bit PNG file (internal: no images row); returns its SHA-256.

        One bit per pixel: an eighth of the bytes of a grey image to filter and compress."""
        img = Image.fromarray(np.asarray(region, dtype=bool))  # a bool array is a mode "1" image
        return self.write(encode(img), img).sha256

    def open_region(self, sha: str) -> np.ndarray:
        return np.asarray(self.open_stored(sha).convert("L")) > 127
