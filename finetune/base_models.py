"""What the UNet trainer can train, read from a diffusers pipeline's JSON files (no torch needed).

The launcher runs these checks before a training process starts; the training task runs them again
on what it loads (a hub id is only readable there).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class TaskError(ValueError):
    """The model and the task do not fit together; the message says what to pick instead."""


def check_pipeline_folder(folder: str | Path) -> bool:
    """Check a local pipeline folder; True when its UNet is an SDXL one (added text/time conditioning)."""
    folder = Path(folder)
    index_file = folder / "model_index.json"
    if not index_file.exists():
        raise TaskError(f"{folder} is not a diffusers pipeline folder (no model_index.json)")
    index = json.loads(index_file.read_text(encoding="utf-8"))
    check_unet_pipeline(index)
    unet_file = folder / "unet" / "config.json"
    if not unet_file.exists():
        raise TaskError(f"{folder} is not a diffusers UNet pipeline folder (no unet/config.json)")
    unet_config = json.loads(unet_file.read_text(encoding="utf-8"))
    return check_added_conditioning(index, unet_config.get("addition_embed_type"))


def check_unet_pipeline(index: dict[str, Any]) -> None:
    """Refuse pipelines the UNet trainer cannot train, naming what to pick instead."""
    name = str(index.get("_class_name") or "this pipeline")
    if _component(index, "transformer") and not _component(index, "unet"):
        raise TaskError(f"{name} is a DiT (transformer) pipeline; the studio trainer trains UNet pipelines "
                        "(SD 1.x/2.x, SDXL and their InstructPix2Pix variants): pick one of those as base model")
    if not _component(index, "unet"):
        raise TaskError(f"{name} has no UNet; pick an SD 1.x/2.x or SDXL pipeline as base model")


def check_added_conditioning(index: dict[str, Any], kind: str | None) -> bool:
    """True for an SDXL UNet (``kind`` "text_time": text + time-id conditioning); others are refused."""
    if kind is None:
        return False
    name = str(index.get("_class_name") or "this pipeline")
    if kind != "text_time":
        raise TaskError(f"{name}'s UNet takes '{kind}' added conditioning, which the trainer does not "
                        "provide; pick an SD 1.x/2.x or SDXL base model")
    if not (_component(index, "text_encoder") and _component(index, "text_encoder_2")):
        raise TaskError(f"{name} has a single text encoder (an SDXL refiner); train the SDXL base "
                        "model, which has both text encoders")
    return True


def _component(index: dict[str, Any], name: str) -> bool:
    """True when model_index.json lists the component (``[null, null]`` marks an absent one)."""
    value = index.get(name)
    return isinstance(value, (list, tuple)) and any(v is not None for v in value)
