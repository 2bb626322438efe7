"""LoRA target presets wrap the modules they name in a real (tiny) diffusers UNet."""
from __future__ import annotations

import pytest

from finetune.config import LoraSpec
from finetune.lora import lora_config, resolve_targets


def _wrapped(tiny_pipeline, preset: str) -> set[str]:
    from diffusers import UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(str(tiny_pipeline), subfolder="unet")
    unet.add_adapter(lora_config(LoraSpec(target_modules=preset), "unet"))
    return {n.split(".lora_A")[0] for n, _ in unet.named_parameters() if ".lora_A" in n}


def test_cross_attention_kv_preset_wraps_only_the_prompt_path(tiny_pipeline):
    wrapped = _wrapped(tiny_pipeline, "unet-cross-attention-kv")
    assert wrapped
    assert all(n.endswith(("attn2.to_k", "attn2.to_v")) for n in wrapped)


def test_attention_preset_also_wraps_self_attention(tiny_pipeline):
    wrapped = _wrapped(tiny_pipeline, "unet-attention")
    assert any(".attn1.to_q" in n for n in wrapped) and any(".attn2.to_v" in n for n in wrapped)


def test_unknown_target_preset_names_the_choices():
    with pytest.raises(ValueError, match="unet-cross-attention-kv"):
        resolve_targets(LoraSpec(target_modules="nope"), "unet")
