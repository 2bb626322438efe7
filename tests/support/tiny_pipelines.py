"""Tiny diffusers pipelines of the larger families (SDXL, Qwen-Image), random weights, built from configs.

Each ``build_*`` saves a folder with the same layout and component classes as the published
checkpoint, so the code under test loads it through the same ``from_pretrained(path)``.
"""
from __future__ import annotations

from pathlib import Path

from tests.support.tiny_models import _clip_text_encoder, clip_tokenizer


def build_tiny_sdxl(path: str | Path, *, unet_in_channels: int = 4, sample_size: int = 8, seed: int = 0) -> Path:
    """SDXL layout: two CLIP text encoders (the second with projection), a UNet with "text_time"
    added conditioning (6 time ids + the pooled embedding), the VAE and an Euler scheduler.
    ``unet_in_channels=8`` saves it as a StableDiffusionXLInstructPix2PixPipeline."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionXLInstructPix2PixPipeline,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )

    torch.manual_seed(seed)
    tokenizer, tokenizer_2 = clip_tokenizer(), clip_tokenizer()
    text_encoder = _clip_text_encoder(len(tokenizer))
    text_encoder_2 = _clip_text_encoder(len(tokenizer_2), with_projection=True)
    time_dim = 8
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16), layers_per_block=1, sample_size=sample_size, in_channels=unet_in_channels,
        out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=(2, 4),
        use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=time_dim,
        projection_class_embeddings_input_dim=6 * time_dim + text_encoder_2.config.projection_dim,
        cross_attention_dim=text_encoder.config.hidden_size + text_encoder_2.config.hidden_size,
        norm_num_groups=4,
    )
    vae = AutoencoderKL(
        block_out_channels=(8, 16), in_channels=3, out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
        latent_channels=4, norm_num_groups=4, sample_size=sample_size * 2, scaling_factor=0.13025,
    )
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       steps_offset=1, timestep_spacing="leading")
    cls = StableDiffusionXLInstructPix2PixPipeline if unet_in_channels == 8 else StableDiffusionXLPipeline
    pipe = cls(vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2, tokenizer=tokenizer,
               tokenizer_2=tokenizer_2, unet=unet, scheduler=scheduler, add_watermarker=False)
    pipe.save_pretrained(str(path))
    return Path(path)
