"""Tiny Stable-Diffusion-shaped pipelines built from configs (no downloads).

Used by the tests and the benchmark (real diffusers/transformers classes at toy sizes) and as the
starting point of the studio's small CPU base model (scripts/train_cpu_base_model.py). The
tokenizer is a CLIP BPE tokenizer whose vocabulary is built locally from a word list.
"""
from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Iterable

BASE_WORDS = (
    "a an the of on in with and to at red green blue yellow orange purple pink white black gray "
    "brown cyan magenta teal circle square triangle star ring cross heart cat dog tree house car "
    "sun moon ball box cup flower bird fish small big large tiny left right top bottom center "
    "background sky grass water stripes dots make turn it into add remove change color image photo "
    "picture scene shape object two three one next above below near"
).split()


def build_clip_tokenizer(folder: str | Path, words: Iterable[str] = BASE_WORDS, max_length: int = 32):
    """A CLIPTokenizer over single characters plus whole ``words`` (merges built to reach them)."""
    from transformers import CLIPTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    vocab: dict[str, int] = {}
    for tok in ["<|startoftext|>", "<|endoftext|>"] + chars + [c + "</w>" for c in chars]:
        vocab.setdefault(tok, len(vocab))
    merges: list[str] = []
    seen = set()
    for word in dict.fromkeys(w.lower() for w in words):
        if len(word) < 2 or not word.isalnum():
            continue
        pieces = list(word[:-1]) + [word[-1] + "</w>"]
        left = pieces[0]
        for piece in pieces[1:]:
            pair = f"{left} {piece}"
            left = left + piece
            if pair not in seen:
                seen.add(pair)
                merges.append(pair)
            vocab.setdefault(left, len(vocab))
    tok = CLIPTokenizer(vocab=vocab, merges=[tuple(m.split(" ")) for m in merges],
                        model_max_length=max_length, pad_token="<|endoftext|>")
    tok.save_pretrained(folder)
    return tok


def build_tiny_pipeline(folder: str | Path, *, sample_size: int = 16, in_channels: int = 4,
                        unet_channels: tuple[int, ...] = (32, 64), text_dim: int = 32,
                        vae_channels: tuple[int, ...] = (32, 64), words: Iterable[str] = BASE_WORDS,
                        seed: int = 0) -> Path:
    """Write a StableDiffusionPipeline folder with toy-sized, randomly initialised components.

    ``sample_size`` is the latent side; images are ``sample_size * 2**(len(vae_channels)-1)`` pixels.
    ``in_channels=8`` builds an InstructPix2Pix-shaped UNet (noisy latents + source latents).
    """
    import torch
    from diffusers import AutoencoderKL, DDPMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    folder = Path(folder)
    torch.manual_seed(seed)
    tokenizer = build_clip_tokenizer(folder / "tokenizer", words)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=text_dim, intermediate_size=text_dim * 2,
        num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=tokenizer.model_max_length,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    ))
    n = len(unet_channels)
    unet = UNet2DConditionModel(
        sample_size=sample_size, in_channels=in_channels, out_channels=4,
        block_out_channels=unet_channels, layers_per_block=1, cross_attention_dim=text_dim,
        down_block_types=("DownBlock2D",) + ("CrossAttnDownBlock2D",) * (n - 1),
        up_block_types=("CrossAttnUpBlock2D",) * (n - 1) + ("UpBlock2D",),
        attention_head_dim=max(1, unet_channels[-1] // 16), norm_num_groups=min(32, unet_channels[0]),
    )
    m = len(vae_channels)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=vae_channels,
        down_block_types=("DownEncoderBlock2D",) * m, up_block_types=("UpDecoderBlock2D",) * m,
        layers_per_block=1, norm_num_groups=min(32, vae_channels[0]), sample_size=sample_size * 2 ** (m - 1),
    )
    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="scaled_linear",
                              beta_start=0.00085, beta_end=0.012, prediction_type="epsilon")
    pipe = StableDiffusionPipeline(
        unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.save_pretrained(folder)
    return folder


def image_size_of(pipeline_dir: str | Path) -> int:
    """Pixel side a tiny (or any SD-shaped) pipeline folder is built for."""
    unet = json.loads((Path(pipeline_dir) / "unet" / "config.json").read_text())
    vae = json.loads((Path(pipeline_dir) / "vae" / "config.json").read_text())
    return int(unet["sample_size"]) * 2 ** (len(vae["block_out_channels"]) - 1)
