"""The shipped CPU base model and the new-colour preset: present, small, loadable and launchable."""
from __future__ import annotations

import pytest

from finetune.presets import BUILTIN_PRESETS, CPU_BASE_MODEL, CPU_NEW_COLOUR_DATASET

PRESET = "CPU: teach the tiny model a new colour (LoRA)"


def test_cpu_base_model_is_small_and_draws(tmp_path):
    import torch
    from diffusers import StableDiffusionPipeline

    size = sum(p.stat().st_size for p in CPU_BASE_MODEL.rglob("*") if p.is_file())
    assert size < 15 * 1024 * 1024
    pipe = StableDiffusionPipeline.from_pretrained(str(CPU_BASE_MODEL), safety_checker=None)
    pipe.set_progress_bar_config(disable=True)
    img = pipe("a red circle", num_inference_steps=4, height=32, width=32,
               generator=torch.Generator().manual_seed(0)).images[0]
    assert img.size == (32, 32)


def test_new_colour_preset_validates_against_the_shipped_dataset(studio):
    from finetune.launcher import Launcher

    config, report = Launcher(studio).validate(dict(BUILTIN_PRESETS[PRESET]))
    assert config.base_model == str(CPU_BASE_MODEL)
    assert config.dataset.name == str(CPU_NEW_COLOUR_DATASET)
    assert report.launchable(skip_invalid=False) and report.usable >= 12
    prompts = [row["prompt"] for row in report.usable_rows]
    teal = [p for p in prompts if "teal" in p]
    assert len(teal) >= 12  # the new colour on every shape
    keep = [p for p in prompts if "teal" not in p]
    assert keep and not any("red" in p for p in keep)  # keep rows never show the control colour
