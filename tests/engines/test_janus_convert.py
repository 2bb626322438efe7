"""Converting a DeepSeek-format Janus checkpoint (as Janus-4o is released) to transformers' format."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from backends.base import BackendLoadError, GenerationRequest
from backends.janus import JanusBackend
from backends.janus_convert import convert, rename_key
from backends.model_cache import ModelCache


@pytest.fixture(scope="module")
def deepseek_folder(tiny_janus, tmp_path_factory):
    """The tiny Janus written the way DeepSeek releases checkpoints (bf16, model_type multi_modality)."""
    from tests.support.tiny_janus import build_tiny_deepseek_janus

    return build_tiny_deepseek_janus(tiny_janus, tmp_path_factory.mktemp("deepseek-janus"))


def test_key_renames():
    assert rename_key("vision_model.vision_tower.blocks.3.norm1.weight") == \
        "model.vision_model.encoder.layers.3.layer_norm1.weight"
    assert rename_key("gen_vision_model.decoder.conv_blocks.1.res.0.conv1.weight") == \
        "model.vqmodel.decoder.up.1.block.0.conv1.weight"
    assert rename_key("aligner.layers.2.bias") == "model.aligner.hidden_layers.0.bias"
    assert rename_key("vision_model.vision_tower.attn_pool.q.weight") is None
    with pytest.raises(KeyError):
        rename_key("something.else")


def test_converted_checkpoint_matches_the_original(tiny_janus, deepseek_folder, tmp_path):
    from transformers import JanusForConditionalGeneration

    converted = convert(deepseek_folder, tmp_path / "converted", dtype="float32")
    original = JanusForConditionalGeneration.from_pretrained(str(tiny_janus)).state_dict()
    loaded = JanusForConditionalGeneration.from_pretrained(str(converted)).state_dict()
    assert set(original) == set(loaded)
    # the DeepSeek folder holds bf16 copies of the original weights
    assert all(torch.equal(original[k].to(torch.bfloat16).float(), loaded[k]) for k in original)
    request = GenerationRequest("a red cube", seed=5, width=32, height=32)
    a = JanusBackend("orig", model=str(tiny_janus), cache=ModelCache(2**30), dtype="bfloat16").generate(request)
    b = JanusBackend("conv", model=str(converted), cache=ModelCache(2**30), dtype="bfloat16").generate(request)
    assert np.array_equal(np.asarray(a.image), np.asarray(b.image))


def test_conversion_keeps_the_stored_dtype_and_writes_processor_and_generation_config(deepseek_folder, tmp_path):
    """No full-precision copy of a bf16 checkpoint; the folder loads as transformers' own conversion."""
    from safetensors import safe_open
    from transformers import AutoProcessor, GenerationConfig

    converted = convert(deepseek_folder, tmp_path / "converted")
    with safe_open(str(converted / "model.safetensors"), "pt") as f:
        dtypes = {f.get_slice(k).get_dtype() for k in f.keys()}
    assert dtypes == {"BF16"}
    assert json.loads((converted / "config.json").read_text())["model_type"] == "janus"
    processor = AutoProcessor.from_pretrained(str(converted))
    turn = [{"role": "user", "content": [{"type": "text", "text": "a red cube"}]}]
    assert processor.apply_chat_template(turn, add_generation_prompt=True) == "<|User|>: a red cube\n\n<|Assistant|>:"
    gen = GenerationConfig.from_pretrained(str(converted))
    tokenizer = processor.tokenizer
    assert tokenizer.convert_ids_to_tokens(gen.pad_token_id) == "<｜▁pad▁｜>"
    assert tokenizer.convert_ids_to_tokens(gen.boi_token_id) == "<begin_of_image>"
    assert (gen.temperature, gen.guidance_scale) == (1.0, 5.0)


def test_a_deepseek_format_folder_is_pointed_to_the_converter(deepseek_folder, monkeypatch):
    """The engine reads config.json first: nothing is built for a checkpoint transformers cannot load."""
    from transformers import JanusForConditionalGeneration

    built = []
    monkeypatch.setattr(JanusForConditionalGeneration, "from_pretrained",
                        classmethod(lambda cls, *a, **k: built.append(a)))
    backend = JanusBackend("janus4o", model=str(deepseek_folder), cache=ModelCache(2**30))
    with pytest.raises(BackendLoadError) as info:
        backend.generate(GenerationRequest("x", width=32, height=32))
    assert "DeepSeek" in info.value.reason and "backends.janus_convert" in info.value.fix
    assert built == []


def test_a_checkpoint_of_another_model_type_is_refused(tiny_chat_lm):
    with pytest.raises(BackendLoadError, match="not a Janus checkpoint"):
        JanusBackend("j", model=str(tiny_chat_lm), cache=ModelCache(2**30)).generate(GenerationRequest("x"))
