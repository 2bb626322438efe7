"""Presets (built-in recipes, saving and loading the user's own) and the `train` CLI."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from finetune.config import parse_config
from finetune.presets import (BUILTIN_PRESETS, JANUS4O_PRESET, PRESET_NOTES, PresetError, list_presets, load_preset,
                              save_preset)

ROOT = Path(__file__).resolve().parents[2]


def test_builtin_presets_are_valid_configs_and_hold_the_papers_recipes():
    for name, preset in BUILTIN_PRESETS.items():
        parse_config({"base_model": "x", **preset})  # every preset is a valid config
    janus = BUILTIN_PRESETS[JANUS4O_PRESET]
    assert janus["learning_rate"] == 5e-6 and janus["num_epochs"] == 3 and janus["method"] == "full"
    assert janus["batch_size"] * janus["gradient_accumulation_steps"] * 8 == 128  # on the 8 GPUs it names
    assert "8 GPUs" in PRESET_NOTES[JANUS4O_PRESET]
    assert (janus["prompt_mask_prob"], janus["image_token_mask_prob"]) == (0.1, 0.5)


def test_user_presets_round_trip(studio):
    data = {"task": "text-to-image", "lora": {"rank": 16}, "output_dir": "/tmp/run", "run_id": "abc"}
    save_preset(studio, "my recipe", data)
    assert "my recipe" in list_presets(studio)
    assert load_preset(studio, "my recipe") == {"task": "text-to-image", "lora": {"rank": 16}}
    with pytest.raises(PresetError, match="built-in"):
        save_preset(studio, "diffusers LoRA (text-to-image)", data)
    with pytest.raises(PresetError, match="preset name"):
        save_preset(studio, "../escape", data)
    with pytest.raises(PresetError, match="no preset"):
        load_preset(studio, "absent")


def _cli(data_dir, *args):
    env = dict(os.environ, STUDIO_DATA_DIR=str(data_dir))
    return subprocess.run([sys.executable, "-m", "studio", "train", *args], capture_output=True, text=True,
                          cwd=str(ROOT), env=env, timeout=120)


def test_cli_validate_list_and_errors(data_dir, tiny_pipeline, tmp_path):
    from tests.finetune.conftest import base_config, write_color_dataset

    data = write_color_dataset(tmp_path / "d", edit=False,
                               extra=[{"input_prompt": "lost", "output_image": "gone.png"}])
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump(base_config(tiny_pipeline, data, tmp_path / "o")))
    out = _cli(data_dir, "validate", str(cfg))
    assert out.returncode == 1 and "4 of 5 rows usable" in out.stdout and "gone.png: missing" in out.stdout
    out = _cli(data_dir, "list")
    assert out.returncode == 0 and "no runs yet" in out.stdout
    out = _cli(data_dir, "stop", "nope")
    assert out.returncode == 2 and "no run id starts with 'nope'" in out.stderr
    out = _cli(data_dir, "launch", str(tmp_path / "absent.yaml"))
    assert out.returncode == 2 and "cannot read" in out.stderr
