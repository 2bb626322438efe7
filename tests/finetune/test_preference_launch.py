"""Preference runs that cannot work are refused before launch, with the reason and the fix."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from finetune.config import ConfigError
from finetune.launcher import LaunchError, Launcher
from studio.preferences.pickapic import Pair, write_pairs


def _pairs(folder: Path, n: int, *, edit: bool = False) -> Path:
    src = folder.parent / f"{folder.name}-src"
    src.mkdir(parents=True)
    pairs = []
    for i in range(n):
        good, bad = src / f"g{i}.png", src / f"b{i}.png"
        Image.new("RGB", (16, 16), (200, 30, 30)).save(good)
        Image.new("RGB", (16, 16), (90, 90, 90)).save(bad)
        source = None
        if edit:
            source = src / f"s{i}.png"
            Image.new("RGB", (16, 16), (128, 128, 128)).save(source)
        pairs.append(Pair(caption="a red square", image_0=str(good), image_1=str(bad), label_0=1.0,
                          source_image=str(source) if source else None))
    write_pairs(pairs, folder)
    return folder


def _data(pipe, folder, **kw) -> dict:
    data = {"base_model": str(pipe), "task": "diffusion-dpo", "method": "lora", "resolution": 16,
            "batch_size": 2, "learning_rate": 1e-3, "max_steps": 2, "device": "cpu", "beta_dpo": 1000.0,
            "dataset": {"source": "preferences", "name": str(folder)}}
    data.update(kw)
    return data


@pytest.fixture
def launcher(studio):
    return Launcher(studio)


def _refused(launcher, data, match):
    with pytest.raises((LaunchError, ConfigError)) as info:
        launcher.submit(data)
    assert match in str(info.value)
    assert launcher.tracker.list_runs() == []  # nothing was queued
    return str(info.value)


def test_too_few_decisive_pairs_are_refused(launcher, tiny_pipeline, tmp_path):
    msg = _refused(launcher, _data(tiny_pipeline, _pairs(tmp_path / "p", 3)), "only 3 decisive usable pairs")
    assert "collect more votes" in msg


def test_pairs_with_missing_images_are_refused(launcher, tiny_pipeline, tmp_path):
    folder = _pairs(tmp_path / "p", 10)
    first = json.loads((folder / "pairs.jsonl").read_text().splitlines()[0])
    (folder / first["jpg_1"]).unlink()
    msg = _refused(launcher, _data(tiny_pipeline, folder), "missing image")
    assert "skip invalid rows" in msg


def test_a_base_model_the_method_does_not_support_is_refused(launcher, tmp_path):
    janus = tmp_path / "janus"
    janus.mkdir()
    (janus / "config.json").write_text("{}")
    _refused(launcher, _data(janus, _pairs(tmp_path / "p", 10)), "not a diffusers pipeline folder")


@pytest.mark.parametrize("field,value,match", [("beta_dpo", 1.0, "beta_dpo 1 is outside"),
                                               ("learning_rate", 0.5, "learning rate 0.5 is above")])
def test_beta_and_learning_rate_out_of_range_are_refused(launcher, tiny_pipeline, tmp_path, field, value, match):
    msg = _refused(launcher, _data(tiny_pipeline, _pairs(tmp_path / "p", 10), **{field: value}), match)
    assert "recipe" in msg


def test_an_edit_batch_for_a_text_to_image_model_is_refused(launcher, tiny_pipeline, tmp_path):
    folder = _pairs(tmp_path / "p", 10, edit=True)
    msg = _refused(launcher, _data(tiny_pipeline, folder), "edit pair for a text-to-image task")
    assert "diffusion-dpo-edit" in msg
    # and the edit task on a text-to-image base names the base model it needs
    _refused(launcher, _data(tiny_pipeline, folder, task="diffusion-dpo-edit"), "needs an InstructPix2Pix base")


def test_a_preference_task_needs_a_preference_dataset(launcher, tiny_pipeline, tmp_path):
    data = _data(tiny_pipeline, tmp_path, dataset={"source": "studio", "name": "default"})
    _refused(launcher, data, "dataset.source: preferences")
