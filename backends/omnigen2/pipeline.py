"""OmniGen2 sampling: a published OmniGen2 folder loaded into transformers/diffusers parts plus our transformer.

Folder layout (``model_index.json`` with ``_class_name: OmniGen2Pipeline``)::

    mllm/         Qwen2.5-VL (transformers Qwen2_5_VLForConditionalGeneration); its last hidden state
                  of the chat-formatted instruction conditions the transformer
    processor/    the Qwen2.5-VL processor files; only its tokenizer (and chat template) is used
    transformer/  config.json + safetensors of the OmniGen2 transformer (see transformer.py)
    vae/          diffusers AutoencoderKL
    scheduler/    scheduler_config.json: ``dynamic_time_shift`` of the flow-matching Euler schedule

Sampling follows the released pipeline: time runs from 0 (noise) to 1 (image), shifted by the latent's
token count; reference images are VAE latents placed before the noisy image; guidance is the dual
text/image formula, applied only on steps whose fraction ``i / steps`` lies inside ``cfg_range``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from PIL import Image

from backends.omnigen2 import PIPELINE_CLASS

SYSTEM_PROMPT = "You are a helpful assistant that generates high-quality images based on user instructions."
#: patches are 2x2 latents and the VAE downsamples by 8: image sides are multiples of 16
SIDE_MULTIPLE = 16


class NotOmniGen2(ValueError):
    """The folder is not a published OmniGen2 pipeline (wrong or missing model_index.json / component)."""


@dataclass
class Output:
    images: list[Image.Image]


# -- the schedule and the guidance rule (pure functions, tested on their own) -------------------------------
def timesteps(steps: int, num_tokens: int, dynamic_shift: bool = True) -> torch.Tensor:
    """``steps + 1`` times from 0 (noise) to 1 (image); with the dynamic shift, larger images spend longer
    near the noise end (m = sqrt(tokens) / 40)."""
    t = np.linspace(0, 1, steps + 1, dtype=np.float32)[:-1]
    if dynamic_shift:
        m = np.sqrt(num_tokens) / 40
        t = t / (m - m * t + t)
    t = torch.from_numpy(t).to(torch.float32)
    return torch.cat([t, torch.ones(1)])


def scales_at(step: int, total: int, text_scale: float, image_scale: float,
              cfg_range: tuple[float, float]) -> tuple[float, float]:
    """The (text, image) scales in force at ``step``: both 1 (no guidance) outside ``cfg_range``."""
    inside = cfg_range[0] <= step / total <= cfg_range[1]
    return (text_scale, image_scale) if inside else (1.0, 1.0)


def guide(cond: torch.Tensor, no_text: torch.Tensor | None, uncond: torch.Tensor | None,
          text_scale: float, image_scale: float) -> torch.Tensor:
    """Dual guidance. ``cond``: text + references; ``no_text``: negative text + references;
    ``uncond``: negative text, no references.

    both scales > 1:  uncond + s_img (no_text - uncond) + s_txt (cond - no_text)
    text only > 1:    uncond + s_txt (cond - uncond)
    otherwise:        cond
    """
    if text_scale > 1.0 and image_scale > 1.0:
        return uncond + image_scale * (no_text - uncond) + text_scale * (cond - no_text)
    if text_scale > 1.0:
        return uncond + text_scale * (cond - uncond)
    return cond


def working_size(width: int, height: int, max_pixels: int, max_side: int | None = None) -> tuple[int, int]:
    """Scale down (never up) to fit ``max_pixels`` and ``max_side``, then floor to multiples of 16."""
    ratio = min(1.0, (max_pixels / (width * height)) ** 0.5)
    if max_side is not None:
        ratio = min(ratio, max_side / max(width, height))
    return (int(width * ratio) // SIDE_MULTIPLE * SIDE_MULTIPLE, int(height * ratio) // SIDE_MULTIPLE * SIDE_MULTIPLE)


# -- loading ------------------------------------------------------------------------------------------------
def read_model_index(folder: Path) -> dict[str, Any]:
    path = folder / "model_index.json"
    if not path.is_file():
        raise NotOmniGen2(f"{folder} has no model_index.json")
    index = json.loads(path.read_text(encoding="utf-8"))
    if index.get("_class_name") != PIPELINE_CLASS:
        raise NotOmniGen2(f"{path} names {index.get('_class_name')!r}, not {PIPELINE_CLASS}")
    for part in ("mllm", "processor", "transformer", "vae", "scheduler"):
        if not (folder / part).is_dir():
            raise NotOmniGen2(f"{folder} has no {part}/ folder (an OmniGen2 pipeline has mllm, processor, "
                              "transformer, vae and scheduler)")
    return index


class OmniGen2Pipeline:
    """The loaded components and the sampler; ``__call__`` mirrors the released pipeline's arguments."""

    def __init__(self, mllm: Any, tokenizer: Any, transformer: Any, vae: Any, dynamic_shift: bool = True) -> None:
        self.mllm = mllm
        self.tokenizer = tokenizer
        self.transformer = transformer
        self.vae = vae
        self.dynamic_shift = dynamic_shift
        self.vae_scale_factor = 2 ** (len(vae.config.block_out_channels) - 1)
        self._num_timesteps = 0
        #: transformer calls made by the last ``__call__`` (the guidance tests count them)
        self.transformer_calls = 0

    @classmethod
    def from_folder(cls, folder: str | Path, dtype: torch.dtype = torch.float32) -> "OmniGen2Pipeline":
        """Steps: 1. check model_index.json; 2. Qwen2.5-VL and its tokenizer from transformers;
        3. the transformer (strict weight check); 4. the diffusers VAE; 5. the schedule's shift flag."""
        from diffusers import AutoencoderKL
        from transformers import AutoTokenizer, Qwen2_5_VLForConditionalGeneration

        from backends.omnigen2.transformer import load_transformer

        folder = Path(folder)
        read_model_index(folder)
        mllm = Qwen2_5_VLForConditionalGeneration.from_pretrained(str(folder / "mllm"), dtype=dtype).eval()
        tokenizer = AutoTokenizer.from_pretrained(str(folder / "processor"))
        template = folder / "processor" / "chat_template.json"
        if tokenizer.chat_template is None and template.is_file():  # processors may keep it there only
            tokenizer.chat_template = json.loads(template.read_text(encoding="utf-8")).get("chat_template")
        transformer = load_transformer(folder / "transformer", dtype=dtype)
        vae = AutoencoderKL.from_pretrained(str(folder / "vae"), torch_dtype=dtype).eval()
        sched_path = folder / "scheduler" / "scheduler_config.json"
        sched = json.loads(sched_path.read_text(encoding="utf-8")) if sched_path.is_file() else {}
        return cls(mllm, tokenizer, transformer, vae, dynamic_shift=bool(sched.get("dynamic_time_shift", True)))

    # -- placement (what the model cache and the studio's placement code expect) ---------------------------
    @property
    def components(self) -> dict[str, Any]:
        return {"mllm": self.mllm, "transformer": self.transformer, "vae": self.vae}

    @property
    def device(self) -> torch.device:
        return next(self.transformer.parameters()).device

    def to(self, device: str | torch.device) -> "OmniGen2Pipeline":
        for module in self.components.values():
            module.to(device)
        return self

    # -- conditioning ---------------------------------------------------------------------------------------
    def encode_text(self, text: str, max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Chat-format the instruction (system + user turn), return Qwen's last hidden state and its mask."""
        chat = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": text}]
        formatted = self.tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=False)
        ids = self.tokenizer([formatted], padding="longest", max_length=max_length, truncation=True,
                             return_tensors="pt")
        device = self.device
        out = self.mllm(ids.input_ids.to(device), attention_mask=ids.attention_mask.to(device),
                        output_hidden_states=True)
        return out.hidden_states[-1].to(self.mllm.dtype), ids.attention_mask.to(device)

    def encode_image(self, image: Image.Image, max_pixels: int, max_side: int,
                     generator: torch.Generator | None) -> torch.Tensor:
        """Resize (Lanczos, multiples of 16, never up), scale to [-1, 1], sample the VAE posterior, then
        shift and scale as the VAE config says. Returns (C, h, w)."""
        image = image.convert("RGB")
        size = working_size(image.width, image.height, max_pixels, max_side)
        pixels = np.asarray(image.resize(size, Image.LANCZOS), dtype=np.float32) / 255.0
        x = torch.from_numpy(pixels).permute(2, 0, 1).unsqueeze(0) * 2.0 - 1.0
        x = x.to(self.device, self.vae.dtype)
        z = self.vae.encode(x).latent_dist.sample(generator=generator)
        cfg = self.vae.config
        if getattr(cfg, "shift_factor", None) is not None:
            z = z - cfg.shift_factor
        if getattr(cfg, "scaling_factor", None) is not None:
            z = z * cfg.scaling_factor
        return z.to(self.vae.dtype).squeeze(0)

    # -- sampling -------------------------------------------------------------------------------------------
    @torch.no_grad()
    def __call__(self, prompt: str, input_images: Sequence[Image.Image] = (), negative_prompt: str = "",
                 width: int = 1024, height: int = 1024, num_inference_steps: int = 50,
                 text_guidance_scale: float = 5.0, image_guidance_scale: float = 2.0,
                 cfg_range: tuple[float, float] = (0.0, 1.0), max_pixels: int = 1024 * 1024,
                 max_input_image_side_length: int = 1024, max_sequence_length: int = 1024,
                 align_res: bool = True, generator: torch.Generator | None = None,
                 image_generator: torch.Generator | None = None,
                 callback_on_step_end: Callable[..., Any] | None = None, output_type: str = "pil") -> Output:
        """Steps:

        1. encode the instruction (and, when text guidance is on, the negative prompt);
        2. encode each reference image with the VAE (``image_generator`` draws the posterior samples);
        3. pick the size: a single reference fixes it (``align_res``), otherwise width x height scaled
           down to ``max_pixels``; draw the starting noise from ``generator``;
        4. Euler steps over the shifted schedule with dual guidance inside ``cfg_range``;
        5. decode, resize to the asked size (bilinear on the tensor) and convert to PIL.
        """
        from diffusers.image_processor import VaeImageProcessor
        from diffusers.utils.torch_utils import randn_tensor

        device = self.device
        self.transformer_calls = 0
        cond, cond_mask = self.encode_text(prompt, max_sequence_length)
        neg = neg_mask = None
        if text_guidance_scale > 1.0:
            neg, neg_mask = self.encode_text(negative_prompt or "", max_sequence_length)
        refs = [self.encode_image(img, max_pixels, max_input_image_side_length, image_generator)
                for img in input_images]
        if not refs:
            image_guidance_scale = 1.0

        if len(refs) == 1 and align_res:
            width = out_w = refs[0].shape[-1] * self.vae_scale_factor
            height = out_h = refs[0].shape[-2] * self.vae_scale_factor
        else:
            out_w, out_h = width, height
            width, height = working_size(width, height, max_pixels)
        shape = (1, self.transformer.in_channels, height // self.vae_scale_factor, width // self.vae_scale_factor)
        latents = randn_tensor(shape, generator=generator, device=device, dtype=cond.dtype)

        times = timesteps(num_inference_steps, shape[-2] * shape[-1], self.dynamic_shift).to(device)
        steps = len(times) - 1
        self._num_timesteps = steps
        ref_batch = [refs] if refs else None
        for i in range(steps):
            t = times[i].expand(1).to(latents.dtype)
            text_s, image_s = scales_at(i, steps, text_guidance_scale, image_guidance_scale, cfg_range)
            pred = self._velocity(latents, t, cond, cond_mask, ref_batch)
            no_text = uncond = None
            if text_s > 1.0 and image_s > 1.0:
                no_text = self._velocity(latents, t, neg, neg_mask, ref_batch)
            if text_s > 1.0:
                uncond = self._velocity(latents, t, neg, neg_mask, None)
            pred = guide(pred, no_text, uncond, text_s, image_s)
            latents = (latents.float() + (times[i + 1] - times[i]) * pred).to(pred.dtype).to(self.vae.dtype)
            if callback_on_step_end is not None:
                callback_on_step_end(self, i, times[i], {})

        cfg = self.vae.config
        if getattr(cfg, "scaling_factor", None) is not None:
            latents = latents / cfg.scaling_factor
        if getattr(cfg, "shift_factor", None) is not None:
            latents = latents + cfg.shift_factor
        image = self.vae.decode(latents, return_dict=False)[0]
        image = torch.nn.functional.interpolate(image, size=(out_h, out_w), mode="bilinear")
        return Output(images=VaeImageProcessor(vae_scale_factor=self.vae_scale_factor).postprocess(
            image, output_type=output_type))

    def _velocity(self, latents, t, text, mask, refs) -> torch.Tensor:
        self.transformer_calls += 1
        return self.transformer(latents, t, text, mask, refs)

