"""Drift of a turn's output from the session's first image, outside the edited region.

Quality loss over turns is the known failure of multi-turn editing: a region nobody asked to
change slowly blurs, shifts colour or gains artefacts. We measure SSIM (Wang et al. 2004,
Gaussian window 11, sigma 1.5, on luma) and PSNR (RGB) between the source and the output on
the pixels that lie outside every region the turns on the path edited on purpose.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

#: a pixel any channel of which moves more than this in one turn counts as deliberately edited
CHANGE_THRESHOLD = 24.0
#: grow detected edit regions by this many pixels (anti-aliased edges, soft brushes)
DILATE_PX = 4
#: drift is measured on images downsampled towards this shorter side
ANALYSIS_SIDE = 256
_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2


@dataclass(frozen=True)
class Drift:
    """SSIM/PSNR of the untouched area; ``psnr`` is None when it is identical (infinite)."""

    ssim: float | None
    psnr: float | None
    outside_fraction: float
    note: str = ""

    def as_dict(self) -> dict:
        return {
            "ssim": self.ssim,
            "psnr": self.psnr,
            "outside_fraction": self.outside_fraction,
            "note": self.note,
        }


def analysis_size(size: tuple[int, int]) -> tuple[int, int]:
    """The size drift is measured at: downsampled by round(min side / 256) as in Wang et al.'s
    reference SSIM code (it models viewing at a fixed distance, and keeps the metric cheap)."""
    w, h = size
    f = max(1, round(min(w, h) / ANALYSIS_SIDE))
    return max(1, w // f), max(1, h // f)


def to_array(img: Image.Image, size: tuple[int, int] | None = None) -> np.ndarray:
    """RGB float32 array (H, W, 3), box-resized to ``size`` (w, h) first when given."""
    img = img.convert("RGB") if img.mode != "RGB" else img
    if size is not None and img.size != size:
        f = img.width // size[0]
        if f > 1 and (img.width // f, img.height // f) == size:
            img = img.reduce(f)  # an exact box average, several times faster than resize
        else:
            img = img.resize(size, Image.BOX)
    return np.asarray(img, dtype=np.float32)


def luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma of an (H, W, 3) array."""
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def _gaussian_kernel(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    k = np.exp(-(x**2) / (2 * sigma**2))
    return (k / k.sum()).astype(np.float32)


def _blur(a: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Separable 'valid' convolution over the last two axes of ``a`` with the 1-D kernel ``k``."""
    n = len(k)
    h, w = a.shape[-2:]
    rows = np.zeros(a.shape[:-2] + (h, w - n + 1), dtype=np.float32)
    for i, kv in enumerate(k):
        rows += kv * a[..., :, i : i + w - n + 1]
    out = np.zeros(a.shape[:-2] + (h - n + 1, w - n + 1), dtype=np.float32)
    for i, kv in enumerate(k):
        out += kv * rows[..., i : i + h - n + 1, :]
    return out


def ssim_map(x: np.ndarray, y: np.ndarray, window: int = 11) -> np.ndarray:
    """Per-window SSIM of two 2-D arrays (values 0..255); shape shrinks by window-1."""
    k = _gaussian_kernel(window)
    mx, my, xx, yy, xy = _blur(np.stack([x, y, x * x, y * y, x * y]), k)  # one pass over all five
    sxx = xx - mx * mx
    syy = yy - my * my
    sxy = xy - mx * my
    num = (2 * mx * my + _C1) * (2 * sxy + _C2)
    den = (mx * mx + my * my + _C1) * (sxx + syy + _C2)
    return num / den


def masked_ssim(a: np.ndarray, b: np.ndarray, keep: np.ndarray | None = None) -> float | None:
    """Mean SSIM of luma over the windows that lie wholly in ``keep`` (all windows when None).

    When no whole window fits (thin untouched strips) windows centred in ``keep`` are used.
    """
    x, y = luma(a), luma(b)
    window = 11
    if min(x.shape) < window:  # too small for the standard window: fall back to one global window
        window = max(1, min(x.shape)) | 1
    smap = ssim_map(x, y, window)
    if keep is None:
        return float(smap.mean())
    r = window // 2
    clean = ~_dilate(~keep, r)
    for usable in (clean, keep):
        centre = usable[r : r + smap.shape[0], r : r + smap.shape[1]]
        if centre.any():
            return float(smap[centre].mean())
    return None


def masked_psnr(a: np.ndarray, b: np.ndarray, keep: np.ndarray | None = None) -> float | None:
    """PSNR in dB over the ``keep`` pixels (all channels); None means identical (infinite)."""
    diff = (a - b) ** 2
    if keep is not None:
        if not keep.any():
            return None
        diff = diff[keep]
    mse = float(diff.mean())
    if mse == 0.0:
        return None
    return 10.0 * math.log10(255.0**2 / mse)


def _dilate(mask: np.ndarray, px: int) -> np.ndarray:
    """Square dilation by ``px`` pixels (a (2px+1)² max filter) of a boolean array."""
    if px <= 0 or not mask.any():
        return mask
    out = mask.copy()
    for _ in range(px):
        grown = out.copy()
        grown[1:, :] |= out[:-1, :]
        grown[:-1, :] |= out[1:, :]
        out = grown.copy()
        out[:, 1:] |= grown[:, :-1]
        out[:, :-1] |= grown[:, 1:]
    return out


def changed_box(before: np.ndarray, after: np.ndarray) -> tuple[int, int, int, int] | None:
    """The smallest box (r0, r1, c0, c1) holding every pixel that differs at all; None if none."""
    h, w = before.shape[:2]
    moved = after != before  # (H, W, C): reduce over rows first, the contiguous way
    rows = np.flatnonzero(moved.reshape(h, -1).any(axis=1))
    if len(rows) == 0:
        return None
    r0, r1 = int(rows[0]), int(rows[-1]) + 1
    cols = np.flatnonzero(moved[r0:r1].any(axis=0).reshape(w, -1).any(axis=1))
    return r0, r1, int(cols[0]), int(cols[-1]) + 1


def changed_region(before: np.ndarray, after: np.ndarray,
                   box: tuple[int, int, int, int] | None | bool = False) -> np.ndarray:
    """Pixels one turn changed on purpose: a channel moved more than CHANGE_THRESHOLD, dilated.

    Only the box where the images differ (``box``, from :func:`changed_box`; computed when not
    given) can hold such pixels, so only it and its dilation margin are examined.
    """
    h, w = before.shape[:2]
    if box is False:
        box = changed_box(before, after)
    region = np.zeros((h, w), bool)
    if box is None:
        return region
    m = DILATE_PX
    r0, r1, c0, c1 = max(0, box[0] - m), min(h, box[1] + m), max(0, box[2] - m), min(w, box[3] + m)
    diff = np.abs(after[r0:r1, c0:c1] - before[r0:r1, c0:c1]).max(axis=2)
    region[r0:r1, c0:c1] = _dilate(diff > CHANGE_THRESHOLD, m)
    return region


def mask_region(mask: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """A user mask (white/opaque = edit here) as a boolean array of ``size`` (w, h)."""
    m = mask.convert("L")
    if m.size != size:
        m = m.resize(size, Image.BOX)
    return _dilate(np.asarray(m) > 0, DILATE_PX)


@dataclass(frozen=True)
class DriftMaps:
    """Per-window SSIM and per-pixel squared error of one image against the source.

    A turn usually changes a small part of its input, and a window's SSIM (or a pixel's error)
    depends only on the pixels under it, so the maps of a turn's output are its input's maps with
    the changed box recomputed: exactly the values a full computation gives, at a fraction of the
    cost. ``ssim`` is None for images smaller than the window (measured in full instead).
    """

    ssim: np.ndarray | None
    sq_err: np.ndarray

    @classmethod
    def identity(cls, source: np.ndarray) -> "DriftMaps":
        """The maps of the source against itself (SSIM exactly 1, no error)."""
        h, w = source.shape[:2]
        n = _WINDOW
        ssim = np.ones((h - n + 1, w - n + 1), np.float32) if min(h, w) >= n else None
        return cls(ssim, np.zeros((h, w), np.float32))


_WINDOW = 11


def _sq_err(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = a - b
    return np.einsum("ijk,ijk->ij", d, d)


def drift_maps(source: np.ndarray, output: np.ndarray, prev: DriftMaps | None = None,
               prev_output: np.ndarray | None = None,
               box: tuple[int, int, int, int] | None | bool = False) -> DriftMaps:
    """Maps of ``output`` against ``source``; with the maps of ``prev_output`` (the turn's input)
    only the box where the two differ (``box``, computed when not given) is recomputed."""
    h, w = source.shape[:2]
    n = _WINDOW
    small = min(h, w) < n
    if prev is None or prev_output is None or prev_output.shape != output.shape:
        ssim = None if small else ssim_map(luma(source), luma(output), n)
        return DriftMaps(ssim, _sq_err(source, output))
    if box is False:
        box = changed_box(prev_output, output)
    if box is None:
        return prev
    r0, r1, c0, c1 = box
    sq_err = prev.sq_err.copy()
    sq_err[r0:r1, c0:c1] = _sq_err(source[r0:r1, c0:c1], output[r0:r1, c0:c1])
    ssim = None
    if not small and prev.ssim is not None:
        # windows overlapping the box: their top-left corners lie in [r0 - n + 1, r1)
        p0, p1 = max(0, r0 - n + 1), min(h, r1 + n - 1)
        q0, q1 = max(0, c0 - n + 1), min(w, c1 + n - 1)
        ssim = prev.ssim.copy()
        ssim[p0 : p1 - n + 1, q0 : q1 - n + 1] = ssim_map(
            luma(source[p0:p1, q0:q1]), luma(output[p0:p1, q0:q1]), n)
    elif not small:
        ssim = ssim_map(luma(source), luma(output), n)
    return DriftMaps(ssim, sq_err)


def drift_from_maps(maps: DriftMaps, source: np.ndarray, output: np.ndarray, edited: np.ndarray) -> Drift:
    """The same figures as :func:`measure_drift`, read off precomputed maps."""
    keep = ~edited
    fraction = float(keep.mean())
    if fraction == 0.0:
        return Drift(None, None, 0.0, "every pixel was edited: nothing left to compare")
    if maps.ssim is None:
        ssim = masked_ssim(source, output, keep)
    else:
        r = _WINDOW // 2
        ssim = None
        clean = ~_dilate(edited, r)
        for usable in (clean, keep):
            centre = usable[r : r + maps.ssim.shape[0], r : r + maps.ssim.shape[1]]
            if centre.any():
                ssim = float(maps.ssim[centre].mean(dtype=np.float64))
                break
    total = float(maps.sq_err[keep].sum(dtype=np.float64))
    psnr = None if total == 0.0 else 10.0 * math.log10(255.0**2 / (total / (3 * int(keep.sum()))))
    return Drift(ssim, psnr, fraction)


def measure_drift(source: np.ndarray, output: np.ndarray, edited: np.ndarray) -> Drift:
    """Drift of ``output`` from ``source`` outside ``edited`` (a boolean array of the same H, W)."""
    keep = ~edited
    fraction = float(keep.mean())
    if fraction == 0.0:
        return Drift(None, None, 0.0, "every pixel was edited: nothing left to compare")
    return Drift(masked_ssim(source, output, keep), masked_psnr(source, output, keep), fraction)


def format_drift(d: dict | None) -> str:
    """One short line for the chat: 'drift: SSIM 0.982 · PSNR 34.1 dB on 71% of the image'."""
    if not d:
        return "drift: not measured"
    if d.get("ssim") is None and d.get("psnr") is None and d.get("outside_fraction", 0) == 0:
        return f"drift: n/a ({d.get('note') or 'no untouched area'})"
    ssim = "n/a" if d.get("ssim") is None else f"{d['ssim']:.3f}"
    psnr = "∞ (identical)" if d.get("psnr") is None else f"{d['psnr']:.1f} dB"
    return f"drift outside edits: SSIM {ssim} · PSNR {psnr} on {d['outside_fraction']:.0%} of the image"
