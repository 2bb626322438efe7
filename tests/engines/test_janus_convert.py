"""Converting a DeepSeek-format Janus checkpoint (as Janus-4o is released) to transformers' format."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from backends.base import GenerationRequest
from backends.janus import JanusBackend
from backends.janus_convert import convert, rename_key
from backends.model_cache import ModelCache


def to_deepseek_name(key: str) -> str:
    """transformers name -> DeepSeek name, written from the DeepSeek module layout."""
    rules = [
        (r"^model\.language_model\.", "language_model.model."),
        (r"^lm_head\.weight$", "language_model.lm_head.weight"),
        (r"^model\.vision_model\.embeddings\.position_embedding\.weight$", "vision_model.vision_tower.pos_embed"),
        (r"^model\.vision_model\.embeddings\.patch_embedding\.", "vision_model.vision_tower.patch_embed.proj."),
        (r"^model\.vision_model\.post_layernorm\.", "vision_model.vision_tower.norm."),
        (r"^model\.vision_model\.encoder\.layers\.(\d+)\.self_attn\.projection_layer\.",
         r"vision_model.vision_tower.blocks.\1.attn.proj."),
        (r"^model\.vision_model\.encoder\.layers\.(\d+)\.layer_norm(\d)\.", r"vision_model.vision_tower.blocks.\1.norm\2."),
        (r"^model\.vision_model\.encoder\.layers\.(\d+)\.mlp\.", r"vision_model.vision_tower.blocks.\1.mlp."),
        (r"^model\.aligner\.fc1\.", "aligner.layers.0."),
        (r"^model\.aligner\.hidden_layers\.(\d+)\.", lambda m: f"aligner.layers.{2 * (int(m.group(1)) + 1)}."),
        (r"^model\.generation_aligner\.fc1\.", "gen_aligner.layers.0."),
        (r"^model\.generation_aligner\.hidden_layers\.(\d+)\.",
         lambda m: f"gen_aligner.layers.{2 * (int(m.group(1)) + 1)}."),
        (r"^model\.generation_head\.proj_out\.", "gen_head.output_mlp_projector."),
        (r"^model\.generation_head\.vision_head\.", "gen_head.vision_head."),
        (r"^model\.generation_embeddings\.", "gen_embed."),
    ]
    for pattern, repl in rules:
        if re.match(pattern, key):
            return re.sub(pattern, repl, key)
    if key.startswith("model.vqmodel."):
        key = "gen_vision_model." + key[len("model.vqmodel."):]
        key = key.replace(".mid.block_1.", ".mid.0.").replace(".mid.attn_1.", ".mid.1.")
        key = key.replace(".mid.block_2.", ".mid.2.").replace("encoder.down.", "encoder.conv_blocks.")
        key = key.replace("decoder.up.", "decoder.conv_blocks.")
        return re.sub(r"\.block\.", ".res.", key)
    raise KeyError(key)


@pytest.fixture(scope="module")
def deepseek_folder(tiny_janus, tmp_path_factory):
    """The tiny Janus written the way DeepSeek releases checkpoints."""
    from transformers import AutoTokenizer, JanusForConditionalGeneration

    out = tmp_path_factory.mktemp("deepseek-janus")
    model = JanusForConditionalGeneration.from_pretrained(str(tiny_janus))
    state, qkv = {}, {}
    for key, tensor in model.state_dict().items():
        m = re.match(r"^model\.vision_model\.encoder\.layers\.(\d+)\.self_attn\.([qkv])_proj\.(\w+)$", key)
        if m:
            qkv.setdefault((m.group(1), m.group(3)), {})[m.group(2)] = tensor
            continue
        name = to_deepseek_name(key)
        state[name] = tensor.unsqueeze(0) if name.endswith("pos_embed") else tensor.clone()
    for (layer, kind), parts in qkv.items():
        state[f"vision_model.vision_tower.blocks.{layer}.attn.qkv.{kind}"] = torch.cat([parts[c] for c in "qkv"])
    state["vision_model.vision_tower.attn_pool.latent"] = torch.zeros(1, 1, 32)  # unused by transformers
    state["gen_vision_model.quantize.codebook_used"] = torch.zeros(64)
    torch.save(state, out / "pytorch_model.bin")
    cfg = model.config
    (out / "config.json").write_text(json.dumps({
        "architectures": ["MultiModalityCausalLM"],
        "language_config": {"num_attention_heads": cfg.text_config.num_attention_heads,
                            "num_key_value_heads": cfg.text_config.num_key_value_heads,
                            "max_position_embeddings": cfg.text_config.max_position_embeddings},
        "vision_config": {"cls": "CLIPVisionTower", "params": {"image_size": cfg.vision_config.image_size,
                                                                "num_heads": cfg.vision_config.num_attention_heads}},
        "aligner_config": {"cls": "MlpProjector", "params": {"depth": 2}},
        "gen_aligner_config": {"cls": "MlpProjector", "params": {"depth": 2}},
    }))
    (out / "preprocessor_config.json").write_text(json.dumps({"image_size": cfg.vision_config.image_size,
                                                              "image_mean": [0.5] * 3, "image_std": [0.5] * 3}))
    AutoTokenizer.from_pretrained(str(tiny_janus)).save_pretrained(str(out))
    return out


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

    converted = convert(deepseek_folder, tmp_path / "converted")
    original = JanusForConditionalGeneration.from_pretrained(str(tiny_janus)).state_dict()
    loaded = JanusForConditionalGeneration.from_pretrained(str(converted)).state_dict()
    assert set(original) == set(loaded)
    assert all(torch.equal(original[k], loaded[k]) for k in original)
    request = GenerationRequest("a red cube", seed=5, width=32, height=32)
    a = JanusBackend("orig", model=str(tiny_janus), cache=ModelCache(2**30)).generate(request)
    b = JanusBackend("conv", model=str(converted), cache=ModelCache(2**30)).generate(request)
    assert np.array_equal(np.asarray(a.image), np.asarray(b.image))
