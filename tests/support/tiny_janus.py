"""Tiny random-weight Janus models (transformers' layout, DeepSeek's layout, a LoRA on it) for tests.

They carry what the real checkpoints carry where it matters: the chat template, BOS handling, no pad
token, bf16 weights. Built from configs; nothing is downloaded.
"""
from __future__ import annotations

from pathlib import Path

from tests.support.tiny_models import byte_level_tokenizer

JANUS_SPECIAL = {"image_token": "<image_placeholder>", "boi_token": "<begin_of_image>",
                 "eoi_token": "<end_of_image>"}


def janus_config(tokenizer, *, preset: str = "tiny", image_size: int = 32, patch_size: int = 8):
    """A JanusConfig: "tiny" (16 image tokens at 32x32), "pro-1b" or "pro-7b" (Janus-Pro sizes, 576 tokens
    at 384)."""
    from transformers import JanusConfig, JanusVisionConfig, JanusVQVAEConfig, LlamaConfig

    ids = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
           "pad_token_id": tokenizer.pad_token_id}
    image_token_id = tokenizer.convert_tokens_to_ids(JANUS_SPECIAL["image_token"])
    if preset == "pro-1b":
        text = LlamaConfig(vocab_size=102400, hidden_size=2048, intermediate_size=5632, num_hidden_layers=24,
                           num_attention_heads=16, num_key_value_heads=16, max_position_embeddings=16384, **ids)
        vision = JanusVisionConfig(projection_dim=2048)  # SigLIP-L/16 at 384: 576 image tokens
        vq = JanusVQVAEConfig(projection_dim=2048, image_token_embed_dim=2048)
        return JanusConfig(text_config=text, vision_config=vision, vq_config=vq, image_token_id=image_token_id)
    if preset == "pro-7b":
        text = LlamaConfig(vocab_size=102400, hidden_size=4096, intermediate_size=11008, num_hidden_layers=30,
                           num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=16384, **ids)
        vision = JanusVisionConfig(projection_dim=4096)
        vq = JanusVQVAEConfig(projection_dim=4096, image_token_embed_dim=4096)
        return JanusConfig(text_config=text, vision_config=vision, vq_config=vq, image_token_id=image_token_id)
    hidden = 32
    text = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, **ids)
    vision = JanusVisionConfig(hidden_size=hidden, num_hidden_layers=1, num_attention_heads=4, image_size=image_size,
                               patch_size=patch_size, projection_dim=hidden, depth=2,
                               num_image_tokens=(image_size // patch_size) ** 2)
    levels = {8: [1, 1, 1, 2], 16: [1, 1, 1, 2, 2]}[patch_size]
    vq = JanusVQVAEConfig(embed_dim=8, num_embeddings=64, latent_channels=32, base_channels=32,
                          channel_multiplier=levels, num_res_blocks=1, projection_dim=hidden,
                          image_token_embed_dim=hidden, num_hidden_layers=2)
    return JanusConfig(text_config=text, vision_config=vision, vq_config=vq, image_token_id=image_token_id)


def janus_tokenizer():
    """The byte-level tokenizer with Janus's image tokens and chat roles, shaped like the released ones:
    BOS added by the post-processor, no pad token declared (``<｜▁pad▁｜>`` is only in the vocabulary)."""
    return byte_level_tokenizer(JANUS_SPECIAL, added=["<|User|>", "<|Assistant|>"], pad=False, add_bos=True)


def build_tiny_janus(path: str | Path, *, seed: int = 0, image_size: int = 32, patch_size: int = 8,
                     dtype: str = "float32", initializer_range: float | None = None) -> Path:
    """Janus(-Pro) layout as transformers' conversion writes it: model, tokenizer, processor with the
    Janus chat template, generation config naming the pad and ``<begin_of_image>`` ids; 16 image tokens
    at 32x32. ``dtype="bfloat16"`` stores bf16 weights, as the released checkpoints are."""
    import torch
    from transformers import JanusForConditionalGeneration, JanusImageProcessorPil, JanusProcessor

    from backends.janus_convert import JANUS_CHAT_TEMPLATE, janus_generation_config

    tokenizer = janus_tokenizer()
    config = janus_config(tokenizer, image_size=image_size, patch_size=patch_size)
    if initializer_range is not None:  # larger random weights: logits that a few training steps can move
        for sub in (config, config.text_config, config.vision_config, config.vq_config):
            sub.initializer_range = initializer_range
    torch.manual_seed(seed)
    model = JanusForConditionalGeneration(config).eval()
    model.generation_config = janus_generation_config(model.config, tokenizer)
    model.to(getattr(torch, dtype)).save_pretrained(str(path))
    processor = JanusProcessor(
        image_processor=JanusImageProcessorPil(size={"height": image_size, "width": image_size},
                                               image_mean=[0.5] * 3, image_std=[0.5] * 3),
        tokenizer=tokenizer, chat_template=JANUS_CHAT_TEMPLATE, use_default_system_prompt=True)
    processor.save_pretrained(str(path))
    return Path(path)


def to_deepseek_name(key: str) -> str:
    """transformers name -> DeepSeek name, written from the DeepSeek module layout."""
    import re

    rules = [
        (r"^model\.language_model\.", "language_model.model."),
        (r"^lm_head\.weight$", "language_model.lm_head.weight"),
        (r"^model\.vision_model\.embeddings\.position_embedding\.weight$", "vision_model.vision_tower.pos_embed"),
        (r"^model\.vision_model\.embeddings\.patch_embedding\.", "vision_model.vision_tower.patch_embed.proj."),
        (r"^model\.vision_model\.post_layernorm\.", "vision_model.vision_tower.norm."),
        (r"^model\.vision_model\.encoder\.layers\.(\d+)\.self_attn\.projection_layer\.",
         r"vision_model.vision_tower.blocks.\1.attn.proj."),
        (r"^model\.vision_model\.encoder\.layers\.(\d+)\.layer_norm(\d)\.",
         r"vision_model.vision_tower.blocks.\1.norm\2."),
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


def build_tiny_deepseek_janus(janus_path: str | Path, out: str | Path) -> Path:
    """The tiny Janus written the way DeepSeek releases Janus-Pro / Janus-4o: ``model_type: multi_modality``,
    DeepSeek tensor names (fused vision qkv, unused attention-pool weights), bf16 weights, a tokenizer
    without a chat template or image-token attributes."""
    import json
    import re

    import torch
    from transformers import JanusForConditionalGeneration

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model = JanusForConditionalGeneration.from_pretrained(str(janus_path))
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
    hidden = model.config.vision_config.hidden_size
    state["vision_model.vision_tower.attn_pool.latent"] = torch.zeros(1, 1, hidden)  # unused by transformers
    state["gen_vision_model.quantize.codebook_used"] = torch.zeros(model.config.vq_config.num_embeddings)
    torch.save({k: v.to(torch.bfloat16) for k, v in state.items()}, out / "pytorch_model.bin")
    cfg = model.config
    (out / "config.json").write_text(json.dumps({
        "architectures": ["MultiModalityCausalLM"], "model_type": "multi_modality",
        "language_config": {"num_attention_heads": cfg.text_config.num_attention_heads,
                            "num_key_value_heads": cfg.text_config.num_key_value_heads,
                            "max_position_embeddings": cfg.text_config.max_position_embeddings,
                            "torch_dtype": "bfloat16"},
        "vision_config": {"cls": "CLIPVisionTower", "params": {"image_size": cfg.vision_config.image_size,
                                                                "num_heads": cfg.vision_config.num_attention_heads}},
        "aligner_config": {"cls": "MlpProjector", "params": {"depth": 2}},
        "gen_aligner_config": {"cls": "MlpProjector", "params": {"depth": 2}},
        "torch_dtype": "bfloat16",
    }))
    (out / "preprocessor_config.json").write_text(json.dumps({"image_size": cfg.vision_config.image_size,
                                                              "image_mean": [0.5] * 3, "image_std": [0.5] * 3}))
    tokenizer = janus_tokenizer()
    tokenizer.chat_template = None
    tokenizer.save_pretrained(str(out))
    for name in ("tokenizer_config.json",):  # DeepSeek's files name no image-token attributes
        path = out / name
        data = json.loads(path.read_text())
        data.pop("extra_special_tokens", None)
        for key in ("image_token", "boi_token", "eoi_token"):
            data.pop(key, None)
        path.write_text(json.dumps(data))
    return out


def build_tiny_janus_lora(janus_path: str | Path, out_dir: str | Path, *, seed: int = 1) -> Path:
    """A random LoRA on the tiny Janus language model, saved the way the studio's Janus fine-tuning saves it."""
    import torch
    from peft import LoraConfig
    from transformers import JanusForConditionalGeneration

    model = JanusForConditionalGeneration.from_pretrained(str(janus_path))
    torch.manual_seed(seed)
    model.model.language_model.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights=False,
                                                      target_modules=["q_proj", "v_proj", "o_proj"]))
    with torch.no_grad():
        for name, param in model.model.language_model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn_like(param))
    model.model.language_model.save_pretrained(str(out_dir))
    return Path(out_dir)
