"""A tiny random OmniGen2 pipeline folder in the published layout (nothing downloaded).

``build_tiny_omnigen2(path)`` writes model_index.json, mllm/ (a 2-layer Qwen2.5-VL), processor/ (a byte-level
Qwen-style tokenizer with the ChatML template), transformer/ (config.json + safetensors named as the release
names them), vae/ (a FLUX-shaped AutoencoderKL: 4 blocks, downscale 8, shift/scale factors) and scheduler/.
"""
from __future__ import annotations

import json
from pathlib import Path

QWEN_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                "<|image_pad|>", "<|video_pad|>"]

#: ChatML as Qwen2.5-VL writes it (text-only messages are all the OmniGen2 pipeline sends)
CHATML = (
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

TINY_TRANSFORMER = {
    "patch_size": 2, "in_channels": 4, "out_channels": None, "hidden_size": 32, "num_layers": 2,
    "num_refiner_layers": 1, "num_attention_heads": 4, "num_kv_heads": 2, "multiple_of": 16,
    "ffn_dim_multiplier": None, "norm_eps": 1e-5, "axes_dim_rope": [2, 2, 4], "axes_lens": [1024, 512, 512],
    "text_feat_dim": 32, "timestep_scale": 1000.0,
}


def qwen_tokenizer():
    """Byte-level BPE without merges (one token per byte) plus Qwen's special tokens and ChatML."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    vocab = {ch: i for i, ch in enumerate(bytes_to_unicode().values())}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                  unk_token=None)
    tok.add_special_tokens({"additional_special_tokens": QWEN_SPECIAL})
    tok.chat_template = CHATML
    return tok


def tiny_qwen25vl(tokenizer):
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL}
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 512,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [1, 1, 2]},
            "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={"depth": 1, "hidden_size": 16, "intermediate_size": 16, "num_heads": 2,
                       "out_hidden_size": 32, "patch_size": 14, "spatial_merge_size": 2,
                       "temporal_patch_size": 2, "window_size": 56, "fullatt_block_indexes": [0]},
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
    )
    return Qwen2_5_VLForConditionalGeneration(config).eval()


def tiny_vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3, out_channels=3, block_out_channels=(8, 8, 8, 8), layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4, norm_num_groups=4, sample_size=64, use_quant_conv=False, use_post_quant_conv=False,
        shift_factor=0.1159, scaling_factor=0.3611,
    )


def tiny_transformer_state(seed: int = 0) -> dict:
    """Random weights for TINY_TRANSFORMER, every tensor non-trivial (the release zero-initialises some)."""
    import torch

    from backends.omnigen2.transformer import OmniGen2Transformer

    torch.manual_seed(seed)
    model = OmniGen2Transformer(**TINY_TRANSFORMER)
    state = {}
    for name, tensor in model.state_dict().items():
        state[name] = (tensor + 0.05 * torch.randn_like(tensor)).contiguous()
    return state


def build_tiny_omnigen2(path: str | Path, *, seed: int = 0) -> Path:
    import torch
    from safetensors.torch import save_file

    path = Path(path)
    torch.manual_seed(seed)
    tokenizer = qwen_tokenizer()
    tokenizer.save_pretrained(str(path / "processor"))
    tiny_qwen25vl(tokenizer).save_pretrained(str(path / "mllm"))
    tiny_vae().save_pretrained(str(path / "vae"))
    (path / "transformer").mkdir(parents=True, exist_ok=True)
    (path / "transformer" / "config.json").write_text(json.dumps(
        {"_class_name": "OmniGen2Transformer2DModel", "_diffusers_version": "0.33.1", **TINY_TRANSFORMER},
        indent=2))
    save_file(tiny_transformer_state(seed), str(path / "transformer" / "diffusion_pytorch_model.safetensors"))
    (path / "scheduler").mkdir(exist_ok=True)
    (path / "scheduler" / "scheduler_config.json").write_text(json.dumps(
        {"_class_name": "FlowMatchEulerDiscreteScheduler", "_diffusers_version": "0.33.1",
         "num_train_timesteps": 1000, "dynamic_time_shift": True}, indent=2))
    (path / "model_index.json").write_text(json.dumps({
        "_class_name": "OmniGen2Pipeline", "_diffusers_version": "0.33.1",
        "mllm": ["transformers", "Qwen2_5_VLForConditionalGeneration"],
        "processor": ["transformers", "Qwen2_5_VLProcessor"],
        "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
        "transformer": ["diffusers", "OmniGen2Transformer2DModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    }, indent=2))
    return path
