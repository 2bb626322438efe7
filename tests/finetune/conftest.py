"""Tiny models and datasets built locally for the fine-tuning tests (no downloads)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

COLORS = {"red": (230, 30, 30), "blue": (30, 30, 230), "green": (30, 200, 30), "yellow": (230, 230, 30)}


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory) -> Path:
    """A 16×16-pixel Stable-Diffusion-shaped pipeline folder with random weights."""
    from finetune.tiny import build_tiny_pipeline

    return build_tiny_pipeline(tmp_path_factory.mktemp("tiny") / "pipe", sample_size=8,
                               unet_channels=(16, 32), vae_channels=(16, 32), text_dim=16)


def write_color_dataset(folder: Path, *, edit: bool = True, extra: list[dict] | None = None) -> Path:
    """A ShareGPT-4o-Image-format JSON file: coloured squares, with grey sources for editing."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (name, rgb) in enumerate(COLORS.items()):
        img = Image.new("RGB", (32, 32), (128, 128, 128))
        img.paste(rgb, (8, 8, 24, 24))
        img.save(folder / f"out{i}.png")
        Image.new("RGB", (32, 32), (128, 128, 128)).save(folder / f"in{i}.png")
        row = {"input_prompt": f"a {name} square", "output_image": f"out{i}.png"}
        if edit:
            row = {"input_prompt": f"add a {name} square", "input_image": [f"in{i}.png"],
                   "output_image": f"out{i}.png"}
        rows.append(row)
    rows += extra or []
    path = folder / ("text_and_image_to_image.json" if edit else "text_to_image.json")
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path


@pytest.fixture
def t2i_file(tmp_path) -> Path:
    return write_color_dataset(tmp_path / "t2i", edit=False)


@pytest.fixture
def edit_file(tmp_path) -> Path:
    return write_color_dataset(tmp_path / "edit", edit=True)


def base_config(pipe: Path, data: Path, out: Path, **overrides) -> dict:
    cfg = {"base_model": str(pipe), "task": "text-to-image", "method": "lora", "resolution": 16,
           "batch_size": 4, "learning_rate": 1e-3, "max_steps": 4, "device": "cpu",
           "dataset": {"source": "file", "name": str(data)}, "output_dir": str(out),
           "checkpointing_steps": 100, "lora": {"rank": 4, "alpha": 4.0}}
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key] = {**cfg[key], **value}
        else:
            cfg[key] = value
    return cfg
