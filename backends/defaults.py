"""The settings a backend renders best at (size, steps, guidance), known without loading it.

Every tab starts its size/steps fields from these, so a 32-px model is not asked for 512 px. Sources, first
wins per key: the entry's ``defaults`` mapping (a config, or a fine-tuned run's training settings), its
``options`` (``steps``, ``guidance_scale``, ``width``, ``height``), then the model folder's own configs
(a diffusers folder's VAE ``sample_size``, or the denoiser's latent size times the VAE's down-scaling).
Only small JSON files are read; no engine is imported.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

KEYS = ("width", "height", "steps", "guidance_scale")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def model_folder_size(model: str | Path | None) -> int | None:
    """The image size a local diffusers folder was built for, or None (a hub id, or no size in its configs)."""
    if not model:
        return None
    folder = Path(str(model))
    if not (folder / "model_index.json").is_file():
        return None
    vae = _read_json(folder / "vae" / "config.json")
    size = vae.get("sample_size")
    if isinstance(size, int) and size > 0:
        return size
    denoiser = _read_json(folder / "unet" / "config.json") or _read_json(folder / "transformer" / "config.json")
    latent, blocks = denoiser.get("sample_size"), vae.get("block_out_channels")
    if isinstance(latent, int) and isinstance(blocks, list) and blocks:
        return latent * 2 ** (len(blocks) - 1)
    return None


def backend_defaults(entry) -> dict[str, Any]:
    """{width, height, steps, guidance_scale} as far as known for a registry entry (missing keys: unknown)."""
    out: dict[str, Any] = {}
    declared = dict(getattr(entry, "defaults", None) or {})
    options = entry.options or {}
    for key in KEYS:
        if declared.get(key) is not None:
            out[key] = declared[key]
        elif options.get(key) is not None:
            out[key] = options[key]
    if "width" not in out or "height" not in out:
        size = model_folder_size(options.get("model"))
        if size:
            out.setdefault("width", size)
            out.setdefault("height", size)
    return out


def common_size(defaults: list[dict[str, Any]], fallback: int = 512) -> tuple[int, int]:
    """One size for outputs that are compared side by side: the smallest any of them declares."""
    widths = [int(d["width"]) for d in defaults if d.get("width")]
    heights = [int(d["height"]) for d in defaults if d.get("height")]
    return (min(widths) if widths else fallback, min(heights) if heights else fallback)
