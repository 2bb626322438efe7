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


def build_tiny_qwen_image(path: str | Path, *, seed: int = 0) -> Path:
    """Qwen-Image layout: a Qwen2.5-VL text encoder (its chat tokens in a byte-level tokenizer), the
    Qwen-Image MMDiT (no guidance embedding, like the released model), its VAE, flow matching."""
    import torch
    from diffusers import (
        AutoencoderKLQwenImage,
        FlowMatchEulerDiscreteScheduler,
        QwenImagePipeline,
        QwenImageTransformer2DModel,
    )
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    from tests.support.tiny_models import byte_level_tokenizer

    torch.manual_seed(seed)
    tokenizer = byte_level_tokenizer(added=["<|im_start|>", "<|im_end|>"])
    vocab = len(tokenizer)
    text_config = {"hidden_size": 16, "intermediate_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
                   "num_key_value_heads": 2, "rope_theta": 1e6, "vocab_size": vocab,
                   "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
                   "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"}}
    vision_config = {"depth": 2, "hidden_size": 16, "intermediate_size": 16, "num_heads": 2, "out_hidden_size": 16}
    special = vocab - 1  # no images go through the text encoder here; any id inside the vocabulary
    text_encoder = Qwen2_5_VLForConditionalGeneration(Qwen2_5_VLConfig(
        text_config=text_config, vision_config=vision_config, hidden_size=16, vocab_size=vocab,
        vision_start_token_id=special, image_token_id=special, video_token_id=special))
    transformer = QwenImageTransformer2DModel(
        patch_size=2, in_channels=16, out_channels=4, num_layers=2, attention_head_dim=16, num_attention_heads=3,
        joint_attention_dim=16, guidance_embeds=False, axes_dims_rope=(8, 4, 4))
    vae = AutoencoderKLQwenImage(base_dim=24, z_dim=4, dim_mult=[1, 2, 4], num_res_blocks=1,
                                 temperal_downsample=[False, True], latents_mean=[0.0] * 4, latents_std=[1.0] * 4)
    pipe = QwenImagePipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=text_encoder,
                             tokenizer=tokenizer, transformer=transformer)
    pipe.save_pretrained(str(path))
    return Path(path)
