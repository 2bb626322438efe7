"""DPO runs on Janus image tokens that cannot work are refused before launch, with the reason and the fix;
the preset passes the checks and shows a memory estimate."""
from __future__ import annotations

import json

import pytest

from finetune.config import ConfigError, parse_config
from finetune.preference_data import read_pair_rows, validate_pairs
from tests.finetune.test_janus_dpo import _pair_folder, pairs, tiny_janus  # noqa: F401 (fixtures)


# -- before launch ---------------------------------------------------------------------------------
@pytest.fixture
def launcher(studio):
    from finetune.launcher import Launcher

    return Launcher(studio)


def _refused(launcher, data, match):
    from finetune.launcher import LaunchError

    with pytest.raises((LaunchError, ConfigError)) as info:
        launcher.submit(data)
    assert match in str(info.value), str(info.value)
    assert launcher.tracker.list_runs() == []  # nothing was queued
    return str(info.value)


def _data(base, folder, **kw) -> dict:
    data = {"base_model": str(base), "task": "janus-dpo", "method": "lora", "resolution": 32, "batch_size": 2,
            "learning_rate": 5e-6, "max_steps": 2, "device": "cpu",
            "dataset": {"source": "preferences", "name": str(folder)}}
    data.update(kw)
    return data


def test_a_base_that_is_not_janus_is_refused(launcher, tiny_pipeline, pairs):
    _refused(launcher, _data(tiny_pipeline, pairs), "a Janus base is a transformers Janus folder")


@pytest.mark.parametrize("field,value,match", [
    ("beta_dpo", 5000.0, "beta_dpo 5000 is outside 0.01–1 for DPO on image tokens"),
    ("beta_dpo", 0.001, "beta_dpo 0.001 is outside"),
    ("learning_rate", 0.01, "learning rate 0.01 is above 0.001"),
])
def test_beta_and_learning_rate_out_of_range_are_refused(launcher, tiny_janus, pairs, field, value, match):
    msg = _refused(launcher, _data(tiny_janus, pairs, **{field: value}), match)
    assert "recipe" in msg or "preset" in msg


def test_a_full_fine_tune_has_a_lower_learning_rate_ceiling(launcher, tiny_janus, pairs):
    _refused(launcher, _data(tiny_janus, pairs, method="full", learning_rate=1e-4), "above 1e-05 for a full")


def test_an_edit_pair_set_for_the_text_to_image_variant_is_refused(launcher, tiny_janus, tmp_path):
    folder = _pair_folder(tmp_path / "edit", edit=True)
    msg = _refused(launcher, _data(tiny_janus, folder), "edit pair for a text-to-image task")
    assert "janus-dpo-edit" in msg


def test_text_to_image_pairs_for_the_edit_variant_are_refused(launcher, tiny_janus, pairs):
    _refused(launcher, _data(tiny_janus, pairs, task="janus-dpo-edit"), "needs the source image")


def test_pairs_with_missing_images_are_refused(launcher, tiny_janus, pairs):
    first = json.loads((pairs / "pairs.jsonl").read_text().splitlines()[0])
    (pairs / first["jpg_0"]).unlink()
    msg = _refused(launcher, _data(tiny_janus, pairs), "missing image")
    assert "skip invalid rows" in msg


def test_too_few_pairs_are_refused(launcher, tiny_janus, tmp_path):
    _refused(launcher, _data(tiny_janus, _pair_folder(tmp_path / "few", n=3)), "only 3 decisive usable pairs")


def test_the_preset_passes_the_checks_and_has_a_memory_estimate(tiny_janus, pairs, tmp_path):
    from finetune.distributed import estimate_memory
    from finetune.janus_dpo_checks import janus_dpo_refusal
    from finetune.launcher import check_base_model, memory_estimate
    from finetune.presets import BUILTIN_PRESETS, JANUS_DPO_PRESET, PRESET_NOTES
    from tests.support.tiny_janus import janus_config, janus_tokenizer

    preset = BUILTIN_PRESETS[JANUS_DPO_PRESET]
    assert preset["beta_dpo"] == 0.1 and preset["task"] == "janus-dpo" and JANUS_DPO_PRESET in PRESET_NOTES
    cfg = parse_config({**preset, "base_model": str(tiny_janus),
                        "dataset": {**preset["dataset"], "name": str(pairs)}})
    check_base_model(cfg)
    assert janus_dpo_refusal(cfg, validate_pairs(read_pair_rows(pairs), cfg.task, 32)) is None
    assert "GB" in memory_estimate(cfg)
    # Janus-Pro-7B sizes: two sequences per pair cost activations; full fine-tuning adds the frozen reference
    janus_config(janus_tokenizer(), preset="pro-7b").save_pretrained(str(tmp_path / "pro-7b"))
    big = cfg.model_copy(update={"base_model": str(tmp_path / "pro-7b")})
    sft = estimate_memory(big.model_copy(update={"task": "janus-t2i"}))
    dpo = estimate_memory(big)
    assert dpo.activations > 1.9 * sft.activations and dpo.model_states == sft.model_states
    full = big.model_copy(update={"method": "full"})
    full_dpo, full_sft = estimate_memory(full), estimate_memory(full.model_copy(update={"task": "janus-t2i"}))
    assert full_dpo.model_states - full_sft.model_states == pytest.approx(2 * full_dpo.parameters)  # bf16 copy
