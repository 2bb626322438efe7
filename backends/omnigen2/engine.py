"""The ``omnigen2`` engine: text to image, instruction editing and in-context generation with OmniGen2.

Options (backends config ``options:``):
    model                 hub id (e.g. OmniGen2/OmniGen2) or a local folder in the published layout (required)
    device, dtype         as for the diffusers engines ("auto": bfloat16 on a GPU that has it)
    steps                 default 50;  guidance_scale (text) default 5.0;  image_guidance_scale default 2.0
    cfg_range             [start, end] fractions of the schedule where guidance applies, default [0.0, 1.0]
    negative_prompt       default: the release's negative prompt
    max_pixels            output and input-image pixel budget, default 1024*1024
    max_input_side        longest side of an input image, default 1024
    resize_to_input       default true: an edit comes back at the source image's size
    vae_tiling, local_files_only
Per request, ``params`` may set cfg_range and negative_prompt, and lower max_pixels and max_input_side.

Edits send ``[image, *reference_images]`` as the model's input images (at most three, the release's
limit): one image is instruction editing, two or three is in-context generation. A mask is honoured by
blending the result into the source through it (OmniGen2 has no inpainting mode).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PIL import Image, ImageFilter

from backends.base import (
    BackendError,
    BackendLoadError,
    Capability,
    EditRequest,
    GenerationRequest,
    ImageResult,
)
from backends.diffusers_engine import DiffusersBackend
from backends.runtime import local_files_only

#: the negative prompt of the release's inference script and demo
RELEASE_NEGATIVE = ("(((deformed))), blurry, over saturation, bad anatomy, disfigured, poorly drawn face, mutation, "
                    "mutated, (extra_limb), (ugly), (poorly drawn hands), fused fingers, messy drawing, broken legs "
                    "censor, censored, censor_bar")
MAX_INPUT_IMAGES = 3
#: request.params keys this engine reads; any other is reported as ignored
_PARAMS = {"cfg_range", "max_pixels", "max_input_side", "negative_prompt"}


class OmniGen2Backend(DiffusersBackend):
    """OmniGen2 through its own sampler (not in diffusers) on transformers/diffusers components."""

    engine = "omnigen2"
    capabilities = frozenset({Capability.TEXT_TO_IMAGE, Capability.EDIT})
    default_params = {"steps": 50, "guidance_scale": 5.0, "image_guidance_scale": 2.0}

    def __init__(self, name: str, **options: Any) -> None:
        for unsupported, why in (("loras", "LoRA adapters"), ("scheduler", "another scheduler"),
                                 ("cpu_offload", "CPU offload"), ("attention_slicing", "attention slicing")):
            if options.get(unsupported):
                raise BackendLoadError(name, f"the omnigen2 engine does not support {why} (options.{unsupported})",
                                       f"remove options.{unsupported} from the backend's entry")
        super().__init__(name, **options)
        try:
            self.cfg_range = parse_cfg_range(name, options.get("cfg_range", (0.0, 1.0)))
        except BackendError as exc:
            raise BackendLoadError(name, "options." + exc.reason, exc.fix) from None

    # -- loading ---------------------------------------------------------------------------
    def _load_pipeline(self, device: str, dtype: Any) -> Any:
        from backends.omnigen2.pipeline import NotOmniGen2, OmniGen2Pipeline
        from backends.omnigen2.transformer import WeightsMismatch

        folder = self._local_folder()
        try:
            return OmniGen2Pipeline.from_folder(folder, dtype=dtype)
        except NotOmniGen2 as exc:
            raise BackendLoadError(self.name, f"'{self.model}' is not an OmniGen2 pipeline: {exc}",
                                   "point options.model to an OmniGen2 folder (model_index.json with "
                                   "_class_name OmniGen2Pipeline) or use the diffusers engines") from exc
        except WeightsMismatch as exc:
            raise BackendLoadError(self.name, str(exc),
                                   "the transformer/ folder must hold the OmniGen2 release's weights for its "
                                   "config.json; re-download or re-export it") from exc

    def _local_folder(self) -> Path:
        path = Path(self.model).expanduser()
        if path.is_dir():
            return path
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(self.model, local_files_only=local_files_only(self.options)))

    def _place(self, pipe: Any, device: str) -> None:
        pipe.to(device)
        if self.options.get("vae_tiling"):
            pipe.vae.enable_tiling()

    # -- calls -----------------------------------------------------------------------------
    def generate(self, request: GenerationRequest) -> ImageResult:
        request.check_cancel()
        return self._sample(request, request.prompt, [], request.width, request.height,
                            request.guidance_scale, None, request.negative_prompt)

    def edit(self, request: EditRequest) -> ImageResult:
        request.check_cancel()
        source = request.image.convert("RGB")
        inputs = [source, *(r.convert("RGB") for r in request.reference_images)]
        if len(inputs) > MAX_INPUT_IMAGES:
            raise BackendError(self.name, f"OmniGen2 takes at most {MAX_INPUT_IMAGES} input images, got "
                               f"{len(inputs)} (the source and {len(inputs) - 1} references)",
                               f"keep at most {MAX_INPUT_IMAGES - 1} reference images")
        notices = []
        if request.strength is not None:
            notices.append("strength ignored: OmniGen2 edits by instruction")
        result = self._sample(request, request.instruction, inputs, source.width, source.height,
                              request.guidance_scale, request.image_guidance_scale, request.negative_prompt,
                              notices)
        out_size = source.size if self.options.get("resize_to_input", True) else result.image.size
        if result.image.size != out_size:
            result.notices.append(f"rendered {result.image.size[0]}x{result.image.size[1]}; resized to "
                                  f"{out_size[0]}x{out_size[1]}")
            result.image = result.image.resize(out_size, Image.LANCZOS)
        if request.mask is not None:
            mask = request.mask.convert("L").resize(out_size, Image.NEAREST).filter(ImageFilter.GaussianBlur(2))
            result.image = Image.composite(result.image, source.resize(out_size, Image.LANCZOS), mask)
            result.notices.append("OmniGen2 has no inpainting mode: the edit is blended into the original "
                                  "through the mask")
        result.metadata["masked"] = request.mask is not None
        return result

    def _sample(self, request: Any, prompt: str, inputs: list[Image.Image], width: int, height: int,
                text_scale: float | None, image_scale: float | None, negative: str,
                notices: list[str] | None = None) -> ImageResult:
        """Steps: 1. resolve scales, range and limits (request, then options, then defaults);
        2. run the cached pipeline under its lock with progress/cancel; 3. report what was used."""
        import torch

        from backends.omnigen2.transformer import TooManyPositions

        notices = list(notices or [])
        params = dict(request.params)
        for key in sorted(set(params) - _PARAMS):
            notices.append(f"parameter '{key}' ignored: the omnigen2 engine does not take it")
        opt = self.options
        text_s = float(text_scale if text_scale is not None else opt.get("guidance_scale", 5.0))
        image_s = float(image_scale if image_scale is not None else opt.get("image_guidance_scale", 2.0))
        if not inputs and image_scale is not None:
            notices.append("image guidance ignored: no input images")
        cfg_range = parse_cfg_range(self.name, params["cfg_range"]) if "cfg_range" in params else self.cfg_range
        # a request may lower the configured budgets, never raise them (they bound the work per call)
        max_pixels = _positive_int(self.name, "max_pixels", opt.get("max_pixels", 1024 * 1024))
        max_side = _positive_int(self.name, "max_input_side", opt.get("max_input_side", 1024))
        max_pixels = min(max_pixels, _positive_int(self.name, "max_pixels", params.get("max_pixels", max_pixels)))
        max_side = min(max_side, _positive_int(self.name, "max_input_side", params.get("max_input_side", max_side)))
        negative = negative or params.get("negative_prompt") or opt.get("negative_prompt", RELEASE_NEGATIVE)
        steps = int(request.steps or opt.get("steps") or 50)
        entry = self.entry()
        pipe = entry.value
        kwargs = {"prompt": prompt, "input_images": inputs, "negative_prompt": negative, "width": int(width),
                  "height": int(height), "num_inference_steps": steps, "text_guidance_scale": text_s,
                  "image_guidance_scale": image_s, "cfg_range": cfg_range, "max_pixels": max_pixels,
                  "max_input_image_side_length": max_side, "output_type": "pil",
                  # the release samples the VAE posterior from the global RNG; a seeded generator keeps it reproducible
                  "image_generator": torch.Generator(device="cpu").manual_seed(int(request.seed))}
        start = time.perf_counter()
        with entry.lock:
            try:
                image = self._run(pipe, kwargs, request, steps, int(width) * int(height))
            except TooManyPositions as exc:
                raise BackendError(self.name, f"the request is too long for OmniGen2: {exc}",
                                   "shorten the prompt or the negative prompt, or use smaller input images") from exc
        return ImageResult(
            image=image, backend=self.name, notices=notices,
            metadata=self._metadata(entry, seed=request.seed, steps=steps, text_guidance_scale=text_s,
                                    image_guidance_scale=image_s if inputs else 1.0, cfg_range=list(cfg_range),
                                    input_images=len(inputs), pipeline="OmniGen2Pipeline",
                                    seconds=time.perf_counter() - start),
        )


def parse_cfg_range(name: str, raw: Any) -> tuple[float, float]:
    """[start, end] with 0 <= start <= end <= 1, or a BackendError saying so."""
    try:
        start, end = (float(v) for v in raw)
    except (TypeError, ValueError):
        start = end = -1.0
    if not 0.0 <= start <= end <= 1.0:
        raise BackendError(name, f"cfg_range must be two numbers 0 <= start <= end <= 1, got {raw!r}",
                           "for example [0.0, 1.0] (guidance on every step) or [0.0, 0.6]")
    return start, end


def _positive_int(name: str, key: str, value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number <= 0:
        raise BackendError(name, f"{key} must be a positive whole number, got {value!r}", f"fix {key}")
    return number
