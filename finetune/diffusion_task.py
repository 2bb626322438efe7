"""Stable-Diffusion-style UNet training: text-to-image and InstructPix2Pix-style editing.

Follows the diffusers training examples: VAE latents, DDPM noise at a random timestep, the UNet
predicts the noise (or v), MSE loss. For editing the source image's latents are concatenated to the
noisy latents as extra input channels, and prompt / source image are dropped at random for
classifier-free guidance (InstructPix2Pix).
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image

from finetune.config import TrainConfig
from finetune.lora import lora_config


class TaskError(ValueError):
    """The model and the task do not fit together; the message says what to pick instead."""


def image_to_tensor(path: str, resolution: int, center_crop: bool, flip: bool) -> torch.Tensor:
    """Load, resize the short side to ``resolution``, crop square, scale to [-1, 1], CHW."""
    with Image.open(path) as img:
        img = img.convert("RGB")
        w, h = img.size
        scale = resolution / min(w, h)
        img = img.resize((max(resolution, round(w * scale)), max(resolution, round(h * scale))),
                         Image.BICUBIC)
        w, h = img.size
        left = (w - resolution) // 2 if center_crop else random.randint(0, w - resolution)
        top = (h - resolution) // 2 if center_crop else random.randint(0, h - resolution)
        img = img.crop((left, top, left + resolution, top + resolution))
        if flip:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        data = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8)
    return data.view(resolution, resolution, 3).permute(2, 0, 1).float().div(127.5).sub(1.0)


class DiffusionTask:
    """Loads a diffusers pipeline folder's components and computes the training loss."""

    family = "unet"

    def __init__(self, config: TrainConfig, device: torch.device, weight_dtype: torch.dtype) -> None:
        from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
        from transformers import AutoTokenizer, CLIPTextModel

        self.config = config
        self.device = device
        self.edit = config.task == "edit"
        base = config.base_model
        if (Path(base) / "transformer").is_dir():
            raise TaskError("this base model is a DiT (transformer) pipeline; the studio trainer "
                            "supports UNet pipelines (SD 1.x/2.x-shaped) in this version")
        self.tokenizer = AutoTokenizer.from_pretrained(base, subfolder="tokenizer")
        self.text_encoder = CLIPTextModel.from_pretrained(base, subfolder="text_encoder")
        self.vae = AutoencoderKL.from_pretrained(base, subfolder="vae")
        self.unet = UNet2DConditionModel.from_pretrained(base, subfolder="unet")
        self.noise_scheduler = DDPMScheduler.from_pretrained(base, subfolder="scheduler")
        self.vae.requires_grad_(False)
        self.text_encoder.requires_grad_(False)
        self.vae.to(device, dtype=weight_dtype)
        self.text_encoder.to(device, dtype=weight_dtype)
        self.weight_dtype = weight_dtype
        in_ch = self.unet.config.in_channels
        if self.edit and in_ch == 4:
            if config.method == "lora":
                raise TaskError("LoRA editing needs an InstructPix2Pix base (a UNet with 8 input "
                                "channels); use full fine-tuning to turn a text-to-image model into an editor")
            self._expand_conv_in()
        elif not self.edit and in_ch != 4:
            raise TaskError(f"the base UNet takes {in_ch} input channels (an editing model); "
                            "pick the edit task or a text-to-image base model")
        if config.method == "lora":
            self.unet.requires_grad_(False)
            self.unet.to(device, dtype=weight_dtype)
            self.unet.add_adapter(lora_config(config.lora, self.family))
            for p in self.unet.parameters():  # trainable LoRA weights stay in fp32
                if p.requires_grad:
                    p.data = p.data.float()
        else:
            self.unet.requires_grad_(True)
            self.unet.to(device)
        if config.gradient_checkpointing:
            self.unet.enable_gradient_checkpointing()
        self.unet.train()
        with torch.no_grad():
            self._empty_embedding = self._encode_prompts([""])

    def _expand_conv_in(self) -> None:
        """InstructPix2Pix: 8 input channels, the new 4 start at zero so the model starts as before."""
        old = self.unet.conv_in
        new = torch.nn.Conv2d(8, old.out_channels, old.kernel_size, old.stride, old.padding)
        with torch.no_grad():
            new.weight.zero_()
            new.weight[:, :4].copy_(old.weight)
            new.bias.copy_(old.bias)
        self.unet.conv_in = new
        self.unet.register_to_config(in_channels=8)

    # -- data ------------------------------------------------------------------------------
    def tokenize(self, prompts: list[str]) -> torch.Tensor:
        return self.tokenizer(prompts, padding="max_length", truncation=True,
                              max_length=self.tokenizer.model_max_length, return_tensors="pt").input_ids

    def _encode_prompts(self, prompts: list[str]) -> torch.Tensor:
        return self.text_encoder(self.tokenize(prompts).to(self.device), return_dict=False)[0]

    def make_example(self, row: dict[str, Any]) -> dict[str, torch.Tensor]:
        c = self.config
        flip = c.random_flip and random.random() < 0.5
        ex = {"pixel_values": image_to_tensor(row["output_image"], c.resolution, c.center_crop, flip),
              "input_ids": self.tokenize([row["prompt"]])[0]}
        if self.edit:
            ex["source_pixel_values"] = image_to_tensor(row["input_images"][0], c.resolution,
                                                        c.center_crop, flip)
        return ex

    # -- training --------------------------------------------------------------------------
    def trainable_module(self) -> torch.nn.Module:
        return self.unet

    def adapter_module(self, model: torch.nn.Module) -> torch.nn.Module:
        """The module that carries the LoRA adapter (the UNet itself)."""
        return model

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.unet.parameters() if p.requires_grad]

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        pixels = batch["pixel_values"].to(self.device, dtype=self.weight_dtype)
        with torch.no_grad():
            latents = self.vae.encode(pixels).latent_dist.sample() * self.vae.config.scaling_factor
            hidden = self.text_encoder(batch["input_ids"].to(self.device), return_dict=False)[0]
        noise = torch.randn_like(latents)
        bsz = latents.shape[0]
        timesteps = torch.randint(0, self.noise_scheduler.config.num_train_timesteps, (bsz,),
                                  device=latents.device).long()
        noisy = self.noise_scheduler.add_noise(latents, noise, timesteps)
        if self.edit:
            with torch.no_grad():
                src = self.vae.encode(batch["source_pixel_values"].to(self.device, dtype=self.weight_dtype))
                src_latents = src.latent_dist.mode()
            p = self.config.conditioning_dropout
            if p > 0:
                r = torch.rand(bsz, device=latents.device)
                drop_prompt = (r < 2 * p).view(bsz, 1, 1)
                hidden = torch.where(drop_prompt, self._empty_embedding.to(hidden.dtype), hidden)
                keep_image = 1 - ((r >= p) & (r < 3 * p)).to(src_latents.dtype).view(bsz, 1, 1, 1)
                src_latents = src_latents * keep_image
            noisy = torch.cat([noisy, src_latents], dim=1)
        if self.noise_scheduler.config.prediction_type == "v_prediction":
            target = self.noise_scheduler.get_velocity(latents, noise, timesteps)
        else:
            target = noise
        pred = model(noisy, timesteps, hidden, return_dict=False)[0]
        return F.mse_loss(pred.float(), target.float(), reduction="mean")

    # -- results ---------------------------------------------------------------------------
    def _pipeline(self, unet):
        from diffusers import (DDIMScheduler, StableDiffusionInstructPix2PixPipeline,
                               StableDiffusionPipeline)

        cls = StableDiffusionInstructPix2PixPipeline if self.edit else StableDiffusionPipeline
        sched = DDIMScheduler.from_config(self.noise_scheduler.config)
        return cls(vae=self.vae, text_encoder=self.text_encoder, tokenizer=self.tokenizer, unet=unet,
                   scheduler=sched, safety_checker=None, feature_extractor=None,
                   requires_safety_checker=False)

    def save_result(self, unet, out_dir: Path) -> Path:
        """LoRA: ``pytorch_lora_weights.safetensors`` (load_lora_weights); full: a pipeline folder."""
        out_dir.mkdir(parents=True, exist_ok=True)
        if self.config.method == "lora":
            from diffusers import StableDiffusionPipeline
            from diffusers.utils import convert_state_dict_to_diffusers
            from peft.utils import get_peft_model_state_dict

            layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
            StableDiffusionPipeline.save_lora_weights(out_dir, unet_lora_layers=layers,
                                                      safe_serialization=True)
        else:
            self._pipeline(unet).save_pretrained(out_dir)
        return out_dir

    @torch.no_grad()
    def sample(self, unet, prompts: list[str], sources: list[str], seed: int) -> list[Image.Image]:
        """Draw one image per prompt with the current weights (fixed seed, so steps compare)."""
        was_training = unet.training
        unet.eval()
        pipe = self._pipeline(unet)
        pipe.set_progress_bar_config(disable=True)
        images = []
        c = self.config
        for i, prompt in enumerate(prompts):
            gen = torch.Generator(device="cpu").manual_seed(seed + i)
            kwargs: dict[str, Any] = {"num_inference_steps": c.sample_steps, "generator": gen,
                                      "guidance_scale": c.sample_guidance_scale}
            if self.edit:
                if not sources:
                    break
                src = Image.open(sources[i % len(sources)]).convert("RGB").resize((c.resolution, c.resolution))
                images.append(pipe(prompt, image=src, **kwargs).images[0])
            else:
                images.append(pipe(prompt, height=c.resolution, width=c.resolution, **kwargs).images[0])
        if was_training:
            unet.train()
        return images
