"""diffusers text-to-image: any pipeline ``AutoPipelineForText2Image`` resolves, by hub id or local path.

Options (backends config ``options:``):
    model              hub id or local folder (required)
    device, dtype      "auto" (default) or cuda/mps/cpu and float32/float16/bfloat16
    cpu_offload        false | true (model offload) | "sequential" — needs a GPU
    attention_slicing  false | true | "auto" | int;  vae_tiling: false | true
    scheduler          ddim, euler, euler_a, dpm++, dpm++_karras, unipc, pndm, lms, heun, flow_euler
                       or any diffusers scheduler class name
    loras              [{path, scale}] adapters loaded with ``load_lora_weights`` (a folder or a file)
    steps, guidance_scale, variant, local_files_only   defaults for calls / loading (steps and
                       guidance otherwise come from the model's family: TEXT_FAMILIES)
Pipelines are shared through the model cache; LoRA variants of one base switch adapters on it.
"""
from __future__ import annotations

import functools
import hashlib
import inspect
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from PIL import Image

from backends.base import Backend, BackendLoadError, Capability, GenerationRequest, ImageResult
from backends.model_cache import CachedModel, ModelCache, estimate_weights_bytes, shared_cache
from backends.runtime import (
    estimate_duration,
    load_failure,
    local_files_only,
    pick_device,
    pick_dtype,
    run_failure,
    run_gpu_task,
)

SCHEDULERS: dict[str, tuple[str, dict[str, Any]]] = {
    "ddim": ("DDIMScheduler", {}),
    "euler": ("EulerDiscreteScheduler", {}),
    "euler_a": ("EulerAncestralDiscreteScheduler", {}),
    "dpm++": ("DPMSolverMultistepScheduler", {}),
    "dpm++_karras": ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
    "unipc": ("UniPCMultistepScheduler", {}),
    "pndm": ("PNDMScheduler", {}),
    "lms": ("LMSDiscreteScheduler", {}),
    "heun": ("HeunDiscreteScheduler", {}),
    "flow_euler": ("FlowMatchEulerDiscreteScheduler", {}),
}
_HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")
#: request.params keys the engine itself consumes (never passed to the pipeline)
_ENGINE_PARAMS = {"scheduler"}


class DiffusersBackend(Backend):
    """Loading, LoRA switching, scheduler choice and the step callback shared by diffusers engines."""

    uses_gpu = True

    def __new__(cls, name: str, cache: ModelCache | None = None, **options: Any) -> "DiffusersBackend":
        """An OmniGen2 folder is not a diffusers pipeline: the omnigen2 engine serves it instead."""
        from backends.omnigen2 import is_omnigen2

        if cls.engine != "omnigen2" and is_omnigen2(str(options.get("model") or ""), local_files_only(options)):
            from backends.registry import engine_class  # the engine is found by name, as a config names it

            return engine_class("omnigen2")(name, cache=cache, **options)
        return super().__new__(cls)

    def __init__(self, name: str, cache: ModelCache | None = None, **options: Any) -> None:
        super().__init__(name, **options)
        self.model = str(options.get("model") or "")
        if not self.model:
            raise BackendLoadError(name, "options.model is missing", "give a hub id or a local folder")
        self.cache = cache or shared_cache()
        self.loras = parse_loras(name, options.get("loras") or [])
        self._placement: tuple[str, Any] | None = None

    # -- loading ---------------------------------------------------------------------------
    def _load_pipeline(self, device: str, dtype: Any) -> Any:
        """Build the pipeline object (subclasses choose the class)."""
        from diffusers import AutoPipelineForText2Image

        return AutoPipelineForText2Image.from_pretrained(self.model, **self._load_kwargs(dtype))

    def _load_kwargs(self, dtype: Any) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"dtype": dtype, "local_files_only": local_files_only(self.options)}
        if self.options.get("variant"):
            kwargs["variant"] = self.options["variant"]
        return kwargs

    def _cache_key(self, device: str, dtype: Any) -> tuple:
        o = self.options
        return (type(self).__name__, self.model, device, str(dtype), str(o.get("cpu_offload", False)),
                str(o.get("attention_slicing", False)), str(o.get("vae_tiling", False)),
                str(o.get("scheduler", "")), str(o.get("variant", "")))

    def entry(self) -> CachedModel:
        """The cached pipeline for this backend, loading it on first use."""
        if self._placement is None:
            try:
                device = pick_device(self.name, self.options.get("device"))
                self._placement = (device, pick_dtype(self.name, device, self.options.get("dtype")))
            except Exception as exc:  # noqa: BLE001
                raise load_failure(self.name, self.model, exc) from exc
        device, dtype = self._placement

        def load() -> Any:
            try:
                pipe = self._load_pipeline(device, dtype)
                self._place(pipe, device)
            except Exception as exc:  # noqa: BLE001 - every load failure gets name/reason/fix
                raise load_failure(self.name, self.model, exc) from exc
            return pipe

        entry = self.cache.get(self._cache_key(device, dtype), load, lambda: self._estimate(dtype))
        entry.state.setdefault("device", device)
        entry.state.setdefault("dtype", str(dtype).replace("torch.", ""))
        return entry

    def _estimate(self, dtype: Any) -> int | None:
        """Bytes the pipeline will take once loaded (from its weight files), None when unknown."""
        try:
            return estimate_weights_bytes(self.model, dtype.itemsize, self.options.get("variant"))
        except Exception:  # noqa: BLE001 - an unreadable header only costs the early eviction
            return None

    def _place(self, pipe: Any, device: str) -> None:
        """Device, offload, slicing, tiling and scheduler as the options say."""
        offload = self.options.get("cpu_offload", False)
        if offload and device.startswith("cuda"):
            if offload == "sequential":
                pipe.enable_sequential_cpu_offload()
            else:
                pipe.enable_model_cpu_offload()
        else:
            if offload:
                pipe._studio_notices = [f"cpu_offload ignored: the pipeline runs on {device}, not a GPU"]
            pipe.to(device)
        slicing = self.options.get("attention_slicing", False)
        if slicing:
            pipe.enable_attention_slicing("auto" if slicing is True else slicing)
        if self.options.get("vae_tiling") and hasattr(pipe, "vae") and hasattr(pipe.vae, "enable_tiling"):
            pipe.vae.enable_tiling()
        if self.options.get("scheduler"):
            set_scheduler(self.name, pipe, str(self.options["scheduler"]))
        pipe.set_progress_bar_config(disable=True)

    # -- LoRA ------------------------------------------------------------------------------
    def _apply_loras(self, entry: CachedModel, pipe: Any) -> None:
        """Make exactly this backend's adapters active on the shared pipeline (call under the lock)."""
        loaded: dict[str, str] = entry.state.setdefault("adapters", {})
        for lora in self.loras:
            if lora["path"] in loaded:
                continue
            adapter = "lora_" + hashlib.sha1(lora["path"].encode()).hexdigest()[:12]
            path = Path(lora["path"])
            try:
                if path.is_file():
                    pipe.load_lora_weights(str(path.parent), weight_name=path.name, adapter_name=adapter)
                else:
                    pipe.load_lora_weights(lora["path"], adapter_name=adapter)
            except Exception as exc:  # noqa: BLE001
                raise BackendLoadError(
                    self.name, f"LoRA '{lora['path']}' could not be loaded onto '{self.model}': "
                    f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                    "check the adapter path and that it was trained for this base model",
                ) from exc
            loaded[lora["path"]] = adapter
        if self.loras:
            pipe.enable_lora()
            pipe.set_adapters([loaded[lora["path"]] for lora in self.loras],
                              adapter_weights=[lora["scale"] for lora in self.loras])
        elif loaded:
            pipe.disable_lora()

    # -- running ---------------------------------------------------------------------------
    def _run(self, pipe: Any, call_kwargs: dict[str, Any], request: Any, steps: int, pixels: int) -> Any:
        """Call the pipeline with progress and cancellation wired to the request."""
        import torch

        request.check_cancel()
        if request.progress is not None:
            request.progress(0, steps)
        call_kwargs["generator"] = torch.Generator(device="cpu").manual_seed(int(request.seed))
        if _accepts(pipe, "callback_on_step_end"):
            call_kwargs["callback_on_step_end"] = _step_callback(request, steps)

        def work() -> Any:
            with torch.inference_mode():
                return pipe(**call_kwargs)

        try:
            out = run_gpu_task(work, duration=estimate_duration(steps, pixels))
        except Exception as exc:  # noqa: BLE001
            raise run_failure(self.name, exc) from exc
        request.check_cancel()
        return out.images[0]

    def _pipeline_kwargs(self, pipe: Any, params: dict[str, Any], notices: list[str]) -> dict[str, Any]:
        """request.params the pipeline accepts; the others are reported, not silently dropped."""
        out = {}
        for key, value in params.items():
            if key in _ENGINE_PARAMS:
                continue
            if _accepts(pipe, key):
                out[key] = value
            else:
                notices.append(f"parameter '{key}' ignored: {type(pipe).__name__} does not take it")
        return out

    def _request_scheduler(self, entry: CachedModel, pipe: Any, params: dict[str, Any]) -> str:
        """Swap the scheduler when the request asks for another one; returns the one in use."""
        wanted = params.get("scheduler") or self.options.get("scheduler") or ""
        base = entry.state.setdefault("base_scheduler", pipe.scheduler)
        current = entry.state.get("scheduler_name", self.options.get("scheduler") or "")
        if wanted != current:
            if wanted:
                set_scheduler(self.name, pipe, str(wanted))
            else:
                pipe.scheduler = base
            entry.state["scheduler_name"] = wanted
        return type(pipe.scheduler).__name__

    @staticmethod
    def load_notices(pipe: Any) -> list[str]:
        """Notices about options the load could not honour (repeated on every result)."""
        return list(getattr(pipe, "_studio_notices", []))

    def _metadata(self, entry: CachedModel, **extra: Any) -> dict[str, Any]:
        meta = {"engine": self.engine, "model": self.model, "device": entry.state.get("device"),
                "dtype": entry.state.get("dtype"), "loras": [dict(lora) for lora in self.loras]}
        meta.update(extra)
        return meta

    def close(self) -> None:
        """Pipelines live in the shared cache (other variants may use them); nothing to free here."""


@dataclass(frozen=True)
class TextFamily:
    """How one kind of text-to-image pipeline is called when the request leaves a knob empty."""

    key: str
    steps: int
    #: the argument that carries the request's guidance scale, and its value when none is given
    cfg_arg: str = "guidance_scale"
    cfg: float | None = None
    #: sent when the user gives none (Qwen-Image's true CFG only runs with a negative prompt)
    default_negative: str | None = None
    extra: tuple[tuple[str, Any], ...] = ()


#: per family: the model card's / diffusers' recommended settings (docs/engines.md lists the sources)
TEXT_FAMILIES: dict[str, TextFamily] = {f.key: f for f in (
    TextFamily("sd", steps=50, cfg=7.5),
    TextFamily("sdxl", steps=50, cfg=5.0),
    TextFamily("sd3", steps=28, cfg=7.0),
    TextFamily("flux-dev", steps=28, cfg=3.5),  # guidance-distilled: the scale is an input, not CFG
    # timestep-distilled: no guidance, few steps, at most 256 T5 tokens
    TextFamily("flux-schnell", steps=4, cfg=0.0, extra=(("max_sequence_length", 256),)),
    TextFamily("qwen-image", steps=50, cfg_arg="true_cfg_scale", cfg=4.0, default_negative=" "),
    TextFamily("other", steps=30),  # the pipeline's own guidance default
)}
_TEXT_CLASSES = {"StableDiffusionPipeline": "sd", "StableDiffusionXLPipeline": "sdxl",
                 "StableDiffusion3Pipeline": "sd3", "QwenImagePipeline": "qwen-image"}


def text_family(pipe: Any) -> TextFamily:
    """The family of a loaded pipeline (FLUX.1 dev and schnell differ in the guidance embedding)."""
    name = type(pipe).__name__
    if name == "FluxPipeline":
        transformer = getattr(pipe, "transformer", None)
        distilled = bool(getattr(getattr(transformer, "config", None), "guidance_embeds", True))
        return TEXT_FAMILIES["flux-dev" if distilled else "flux-schnell"]
    return TEXT_FAMILIES[_TEXT_CLASSES.get(name, "other")]


class DiffusersText2Image(DiffusersBackend):
    """Text to image through any AutoPipelineForText2Image pipeline, with per-family defaults."""

    engine = "diffusers-text2image"
    capabilities = frozenset({Capability.TEXT_TO_IMAGE})
    #: steps and guidance come from the loaded model's family (TEXT_FAMILIES) unless given
    default_params: dict[str, Any] = {}

    def generate(self, request: GenerationRequest) -> ImageResult:
        request.check_cancel()
        entry = self.entry()
        pipe = entry.value
        notices = self.load_notices(pipe)
        multiple = size_multiple(pipe)
        width, height = round_size(request.width, multiple), round_size(request.height, multiple)
        if (width, height) != (request.width, request.height):
            notices.append(f"rendered at {width}x{height} (multiples of {multiple}), resized to "
                           f"{request.width}x{request.height}")
        fam = text_family(pipe)
        steps = int(request.steps or self.options.get("steps") or fam.steps)
        guidance = request.guidance_scale if request.guidance_scale is not None else \
            self.options.get("guidance_scale", fam.cfg)
        kwargs: dict[str, Any] = {"prompt": request.prompt, "width": width, "height": height,
                                  "num_inference_steps": steps, "output_type": "pil"}
        kwargs.update({k: v for k, v in fam.extra if _accepts(pipe, k)})
        if guidance is not None:
            kwargs[fam.cfg_arg] = float(guidance)
        negative = request.negative_prompt or fam.default_negative
        if negative:
            if _accepts(pipe, "negative_prompt"):
                kwargs["negative_prompt"] = negative
            elif request.negative_prompt:
                notices.append(f"negative prompt ignored: {type(pipe).__name__} has none")
        start = time.perf_counter()
        with entry.lock:
            self._apply_loras(entry, pipe)
            scheduler = self._request_scheduler(entry, pipe, request.params)
            kwargs.update(self._pipeline_kwargs(pipe, request.params, notices))
            image = self._run(pipe, kwargs, request, steps, width * height)
        if image.size != (request.width, request.height):
            image = image.resize((request.width, request.height), Image.LANCZOS)
        return ImageResult(
            image=image, backend=self.name, notices=notices,
            metadata=self._metadata(entry, seed=request.seed, steps=steps, guidance_scale=guidance,
                                    family=fam.key, guidance_arg=fam.cfg_arg, scheduler=scheduler, pipeline=type(pipe).__name__,
                                    size=[width, height], seconds=time.perf_counter() - start),
        )


# -- helpers -------------------------------------------------------------------------------
def set_scheduler(name: str, pipe: Any, choice: str) -> None:
    """Replace the pipeline's scheduler by an alias or a diffusers scheduler class name."""
    import diffusers

    cls_name, extra = SCHEDULERS.get(choice.lower(), (choice, {}))
    cls = getattr(diffusers, cls_name, None)
    if cls is None or not hasattr(cls, "from_config"):
        raise BackendLoadError(name, f"unknown scheduler '{choice}'",
                               f"use one of {', '.join(SCHEDULERS)} or a diffusers scheduler class name")
    pipe.scheduler = cls.from_config(pipe.scheduler.config, **extra)


def size_multiple(pipe: Any) -> int:
    """Sides must be multiples of this (latent downscale, x2 for patchified transformers)."""
    factor = int(getattr(pipe, "vae_scale_factor", 8) or 8)
    factor = factor * 2 if getattr(pipe, "transformer", None) is not None else factor
    return math.lcm(8, factor)  # several pipelines check for multiples of 8 whatever the VAE


def round_size(value: int, multiple: int) -> int:
    """Round down to a multiple (never below one multiple)."""
    return max(multiple, int(value) // multiple * multiple)


def _accepts(pipe: Any, arg: str) -> bool:
    return arg in call_parameters(type(pipe))


@functools.lru_cache(maxsize=64)
def call_parameters(cls: type) -> frozenset[str]:
    """Argument names of a pipeline class's ``__call__`` (cached: inspect is slow)."""
    return frozenset(inspect.signature(cls.__call__).parameters)


def _step_callback(request: Any, total: int) -> Callable[..., dict[str, Any]]:
    def on_step_end(pipe: Any, step: int, timestep: Any, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
        n = int(getattr(pipe, "_num_timesteps", None) or total)
        if request.progress is not None:
            request.progress(min(step + 1, n), n)
        request.check_cancel()  # raises Cancelled between steps
        return callback_kwargs

    return on_step_end


def parse_loras(name: str, raw: Any) -> list[dict[str, Any]]:
    """Validate ``options.loras`` ([{path, scale}] or [path]) into [{"path": str, "scale": float}]."""
    if not isinstance(raw, list):
        raise BackendLoadError(name, "options.loras must be a list of {path, scale}",
                               "write loras: [{path: /path/to/adapter, scale: 1.0}]")
    loras = []
    for i, item in enumerate(raw):
        if isinstance(item, str):
            item = {"path": item}
        if not isinstance(item, dict) or not item.get("path"):
            raise BackendLoadError(name, f"options.loras[{i}] has no path", "give each adapter a path")
        path = str(item["path"])
        if not Path(path).exists() and not _HUB_ID.fullmatch(path):
            raise BackendLoadError(name, f"LoRA adapter not found at {path}",
                                   "check the path (a folder with pytorch_lora_weights.safetensors or a file)")
        loras.append({"path": path, "scale": float(item.get("scale", 1.0))})
    return loras
