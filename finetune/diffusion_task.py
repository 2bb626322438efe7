"""Stable-Diffusion-style UNet training (SD 1.x/2.x and SDXL): text-to-image and InstructPix2Pix editing.

Follows the diffusers training examples: VAE latents, DDPM noise at a random timestep, the UNet
predicts the noise (or v), MSE loss. For editing the source image's latents are concatenated to the
noisy latents as extra input channels, and prompt / source image are dropped at random for
classifier-free guidance (InstructPix2Pix). SDXL UNets also take the added conditioning of
``train_text_to_image_sdxl.py``: both text encoders' penultimate hidden states, the second encoder's
pooled embedding and the (original size, crop corner, target size) time ids.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image

from finetune.base_models import TaskError, check_added_conditioning, check_unet_pipeline
from finetune.config import TrainConfig
from finetune.lora import lora_config

__all__ = ["DiffusionTask", "TaskError", "image_to_tensor", "load_pair"]


def _resize_short_side(img: Image.Image, resolution: int) -> Image.Image:
    w, h = img.size
    scale = resolution / min(w, h)
    return img.resize((max(resolution, round(w * scale)), max(resolution, round(h * scale))), Image.BICUBIC)


def crop_corner(size: tuple[int, int], resolution: int, center_crop: bool) -> tuple[int, int]:
    """(left, top) of the square crop: the centre, or drawn at random."""
    w, h = size
    if center_crop:
        return (w - resolution) // 2, (h - resolution) // 2
    return random.randint(0, w - resolution), random.randint(0, h - resolution)


def _square_tensor(img: Image.Image, resolution: int, corner: tuple[int, int], flip: bool) -> torch.Tensor:
    left, top = corner
    img = img.crop((left, top, left + resolution, top + resolution))
    if flip:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    data = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8)
    return data.view(resolution, resolution, 3).permute(2, 0, 1).float().div(127.5).sub(1.0)


def image_to_tensor(path: str, resolution: int, center_crop: bool, flip: bool) -> torch.Tensor:
    """Load, resize the short side to ``resolution``, crop square, scale to [-1, 1], CHW."""
    with Image.open(path) as img:
        img = _resize_short_side(img.convert("RGB"), resolution)
    return _square_tensor(img, resolution, crop_corner(img.size, resolution, center_crop), flip)


def load_pair(target: str, source: str | None, resolution: int, center_crop: bool, flip: bool,
              ) -> tuple[torch.Tensor, torch.Tensor | None, list[int]]:
    """Target and source tensors cut by ONE crop box and one flip, so the pair stays aligned.

    The source is first resized to the target's resized size. Also returns SDXL's time ids for the
    target: original height and width, crop top and left, and the output size.
    """
    with Image.open(target) as img:
        original = img.size
        tgt = _resize_short_side(img.convert("RGB"), resolution)
    corner = crop_corner(tgt.size, resolution, center_crop)
    src_tensor = None
    if source is not None:
        with Image.open(source) as img:
            src = img.convert("RGB").resize(tgt.size, Image.BICUBIC)
        src_tensor = _square_tensor(src, resolution, corner, flip)
    time_ids = [original[1], original[0], corner[1], corner[0], resolution, resolution]
    return _square_tensor(tgt, resolution, corner, flip), src_tensor, time_ids


class DiffusionTask:
    """Loads a diffusers pipeline folder's components and computes the training loss."""

    family = "unet"

    def __init__(self, config: TrainConfig, device: torch.device, weight_dtype: torch.dtype) -> None:
        """Load and place the components.

        1. Read the pipeline's ``model_index.json``; DiT (transformer) pipelines are refused.
        2. Load tokenizer(s), text encoder(s), VAE, UNet and the DDPM scheduler; an SDXL UNet
           (added "text_time" conditioning) brings the second tokenizer and text encoder.
        3. Check the UNet's input channels against the task (edit from a text-to-image base: full
           fine-tuning widens ``conv_in`` as InstructPix2Pix did; LoRA is refused).
        4. LoRA: freeze the UNet and add the adapter (trainable weights in fp32); full: train it all.
        """
        from diffusers import AutoencoderKL, DDPMScheduler, DiffusionPipeline, UNet2DConditionModel
        from transformers import AutoTokenizer, CLIPTextModel, CLIPTextModelWithProjection

        self.config = config
        self.device = device
        self.edit = config.task == "edit"
        base = config.base_model
        index = DiffusionPipeline.load_config(base)
        check_unet_pipeline(index)
        self.unet = UNet2DConditionModel.from_pretrained(base, subfolder="unet")
        self.xl = check_added_conditioning(index, getattr(self.unet.config, "addition_embed_type", None))
        self.tokenizer = AutoTokenizer.from_pretrained(base, subfolder="tokenizer")
        self.text_encoder = CLIPTextModel.from_pretrained(base, subfolder="text_encoder")
        self.vae = AutoencoderKL.from_pretrained(base, subfolder="vae")
        self.noise_scheduler = DDPMScheduler.from_pretrained(base, subfolder="scheduler")
        self.encoders = [self.text_encoder]
        if self.xl:
            self.tokenizer_2 = AutoTokenizer.from_pretrained(base, subfolder="tokenizer_2")
            self.text_encoder_2 = CLIPTextModelWithProjection.from_pretrained(base, subfolder="text_encoder_2")
            self.encoders.append(self.text_encoder_2)
        self.vae.requires_grad_(False)
        # the SDXL VAE overflows in fp16, so the SDXL examples keep it in fp32
        self.vae_dtype = torch.float32 if self.xl else weight_dtype
        self.vae.to(device, dtype=self.vae_dtype)
        for encoder in self.encoders:
            encoder.requires_grad_(False)
            encoder.to(device, dtype=weight_dtype)
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
            self._empty_embedding, self._empty_pooled = self._encode_prompts([""])

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
    def tokenize(self, prompts: list[str], tokenizer: Any = None) -> torch.Tensor:
        tokenizer = tokenizer or self.tokenizer
        return tokenizer(prompts, padding="max_length", truncation=True,
                         max_length=tokenizer.model_max_length, return_tensors="pt").input_ids

    def _encode_prompts(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor | None]:
        ids = [self.tokenize(prompts)]
        if self.xl:
            ids.append(self.tokenize(prompts, self.tokenizer_2))
        return self._encode_ids(ids)

    def _encode_ids(self, ids: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(hidden states, pooled embedding or None) as the UNet takes them."""
        if not self.xl:
            return self.text_encoder(ids[0].to(self.device), return_dict=False)[0], None
        hidden, pooled = [], None
        for encoder, batch_ids in zip(self.encoders, ids):
            out = encoder(batch_ids.to(self.device), output_hidden_states=True)
            pooled = out[0]  # the last encoder's projected embedding (text_embeds)
            hidden.append(out.hidden_states[-2])
        return torch.cat(hidden, dim=-1), pooled

    def training_prompt(self, prompt: str) -> str:
        """``prompt``, or the empty prompt for a ``proportion_empty_prompts`` share of text-to-image
        examples (an edit model has its own ``conditioning_dropout``, applied to the batch)."""
        p = self.config.proportion_empty_prompts
        return "" if p and not self.edit and random.random() < p else prompt

    def make_example(self, row: dict[str, Any]) -> dict[str, torch.Tensor]:
        c = self.config
        flip = c.random_flip and random.random() < 0.5
        source = row["input_images"][0] if self.edit else None
        target, src, time_ids = load_pair(row["output_image"], source, c.resolution, c.center_crop, flip)
        prompt = self.training_prompt(row["prompt"])
        ex = {"pixel_values": target, "input_ids": self.tokenize([prompt])[0]}
        if self.edit:
            ex["source_pixel_values"] = src
        if self.xl:
            ex["input_ids_2"] = self.tokenize([prompt], self.tokenizer_2)[0]
            ex["time_ids"] = torch.tensor(time_ids, dtype=torch.float32)
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
        pixels = batch["pixel_values"].to(self.device, dtype=self.vae_dtype)
        with torch.no_grad():
            latents = self.vae.encode(pixels).latent_dist.sample() * self.vae.config.scaling_factor
            latents = latents.to(self.weight_dtype)
            ids = [batch["input_ids"]] + ([batch["input_ids_2"]] if self.xl else [])
            hidden, pooled = self._encode_ids(ids)
        noise = torch.randn_like(latents)
        bsz = latents.shape[0]
        timesteps = torch.randint(0, self.noise_scheduler.config.num_train_timesteps, (bsz,),
                                  device=latents.device).long()
        noisy = self.noise_scheduler.add_noise(latents, noise, timesteps)
        if self.edit:
            with torch.no_grad():
                src = self.vae.encode(batch["source_pixel_values"].to(self.device, dtype=self.vae_dtype))
                src_latents = src.latent_dist.mode().to(self.weight_dtype)
            hidden, pooled, src_latents = self.drop_conditioning(torch.rand(bsz, device=latents.device),
                                                                 hidden, pooled, src_latents)
            noisy = torch.cat([noisy, src_latents], dim=1)
        if self.noise_scheduler.config.prediction_type == "v_prediction":
            target = self.noise_scheduler.get_velocity(latents, noise, timesteps)
        else:
            target = noise
        extra: dict[str, Any] = {}
        if self.xl:
            extra["added_cond_kwargs"] = {"text_embeds": pooled,
                                          "time_ids": batch["time_ids"].to(self.device, dtype=pooled.dtype)}
        pred = model(noisy, timesteps, hidden, return_dict=False, **extra)[0]
        return F.mse_loss(pred.float(), target.float(), reduction="mean")

    def drop_conditioning(self, draws: torch.Tensor, hidden: torch.Tensor, pooled: torch.Tensor | None,
                          src_latents: torch.Tensor):
        """InstructPix2Pix's conditioning dropout, one uniform draw per example: below p the prompt is
        emptied, from p to 2p the prompt and the source, from 2p to 3p the source alone, so both of
        the edit pipeline's guidance terms have their unconditional predictions trained."""
        p = self.config.conditioning_dropout
        if p <= 0:
            return hidden, pooled, src_latents
        n = draws.shape[0]
        drop_prompt = (draws < 2 * p).view(n, 1, 1)
        hidden = torch.where(drop_prompt, self._empty_embedding.to(hidden.dtype), hidden)
        if pooled is not None:
            pooled = torch.where(drop_prompt.view(n, 1), self._empty_pooled.to(pooled.dtype), pooled)
        keep_source = 1 - ((draws >= p) & (draws < 3 * p)).to(src_latents.dtype).view(n, 1, 1, 1)
        return hidden, pooled, src_latents * keep_source

    # -- results ---------------------------------------------------------------------------
    def _pipeline_class(self):
        import diffusers

        name = {(False, False): "StableDiffusionPipeline",
                (False, True): "StableDiffusionInstructPix2PixPipeline",
                (True, False): "StableDiffusionXLPipeline",
                (True, True): "StableDiffusionXLInstructPix2PixPipeline"}[(self.xl, self.edit)]
        return getattr(diffusers, name)

    def _pipeline(self, unet):
        from diffusers import DDIMScheduler

        sched = DDIMScheduler.from_config(self.noise_scheduler.config)
        parts = {"vae": self.vae, "text_encoder": self.text_encoder, "tokenizer": self.tokenizer,
                 "unet": unet, "scheduler": sched}
        if self.xl:
            parts.update(text_encoder_2=self.text_encoder_2, tokenizer_2=self.tokenizer_2, add_watermarker=False)
        else:
            parts.update(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
        return self._pipeline_class()(**parts)

    def save_result(self, unet, out_dir: Path) -> Path:
        """LoRA: ``pytorch_lora_weights.safetensors`` (load_lora_weights); full: a pipeline folder.

        The adapter file carries peft's adapter config as metadata, so ``load_lora_weights``
        restores ``lora_alpha`` (and the scale alpha / rank) instead of assuming alpha = rank.
        """
        out_dir.mkdir(parents=True, exist_ok=True)
        if self.config.method == "lora":
            from diffusers.utils import convert_state_dict_to_diffusers
            from peft.utils import get_peft_model_state_dict

            layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
            self._pipeline_class().save_lora_weights(
                out_dir, unet_lora_layers=layers, safe_serialization=True,
                unet_lora_adapter_metadata=unet.peft_config["default"].to_dict())
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
        # mixed-precision components (an fp32 SDXL VAE under a bf16 UNet) meet under autocast,
        # as in the diffusers examples' validation
        autocast = torch.autocast(self.device.type, dtype=self.weight_dtype,
                                  enabled=self.weight_dtype != torch.float32)
        for i, prompt in enumerate(prompts):
            gen = torch.Generator(device="cpu").manual_seed(seed + i)
            kwargs: dict[str, Any] = {"num_inference_steps": c.sample_steps, "generator": gen,
                                      "guidance_scale": c.sample_guidance_scale}
            if self.edit:
                if not sources:
                    break
                src = Image.open(sources[i % len(sources)]).convert("RGB").resize((c.resolution, c.resolution))
                with autocast:
                    images.append(pipe(prompt, image=src, **kwargs).images[0])
            else:
                with autocast:
                    images.append(pipe(prompt, height=c.resolution, width=c.resolution, **kwargs).images[0])
        if was_training:
            unet.train()
        return images

