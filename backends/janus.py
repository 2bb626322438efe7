"""Janus-Pro / Janus-4o through transformers' ``JanusForConditionalGeneration``.

Text to image uses classifier-free guidance (``cfg_scale`` s, default 5, temperature 1). Editing is
Janus-4o's text-and-image-to-image with dual guidance (s and ``image_cfg_scale`` s', both 5); see
``backends/janus_sampling.py`` for the loop and docs/janus4o_conversion.md for checkpoints in DeepSeek's
format. Options: model, device, dtype, cfg_scale, image_cfg_scale, temperature, prompt_template,
batched (default true: one forward per token for all conditions), resize_to_input (default true),
loras ([{path, scale}]: peft adapters of the language model, as the studio's Janus fine-tuning saves them),
base_model (when ``model`` is such an adapter folder: the Janus model it was trained on).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PIL import Image, ImageFilter

from backends.base import Backend, BackendLoadError, Capability, EditRequest, GenerationRequest, ImageResult
from backends.model_cache import CachedModel, ModelCache, shared_cache
from backends.runtime import load_failure, local_files_only, pick_device, pick_dtype, run_failure, run_gpu_task


CONVERT_HINT = ("convert it once with `python -m backends.janus_convert SRC DST` "
                "(docs/janus4o_conversion.md) and use DST")


def check_janus_checkpoint(name: str, model_id: str, offline: bool) -> None:
    """Read ``config.json`` before anything is built: refuse DeepSeek-format and non-Janus checkpoints.

    transformers would otherwise build a default-size random Janus for an unknown layout before failing.
    """
    from transformers import PretrainedConfig

    try:
        config, _ = PretrainedConfig.get_config_dict(model_id, local_files_only=offline)
    except Exception as exc:  # noqa: BLE001
        raise load_failure(name, model_id, exc) from exc
    model_type = config.get("model_type")
    if model_type == "janus":
        return
    if model_type == "multi_modality" or "MultiModalityCausalLM" in (config.get("architectures") or []):
        raise BackendLoadError(name, f"'{model_id}' is a Janus checkpoint in DeepSeek's format "
                                     "(model_type multi_modality), which transformers cannot load", CONVERT_HINT)
    raise BackendLoadError(name, f"'{model_id}' is not a Janus checkpoint (model_type {model_type!r})",
                           "give a transformers-format Janus folder or hub id (model_type janus)")


class JanusBundle:
    """The loaded model with its tokenizer and image processor (what the cache holds)."""

    def __init__(self, model: Any, tokenizer: Any, image_processor: Any) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.image_processor = image_processor

    @property
    def components(self) -> dict[str, Any]:
        return {"model": self.model}


class JanusBackend(Backend):
    """Janus text-to-image (CFG) and Janus-4o text-and-image-to-image (dual CFG)."""

    uses_gpu = True
    engine = "janus"
    capabilities = frozenset({Capability.TEXT_TO_IMAGE, Capability.EDIT})
    default_params = {"guidance_scale": 5.0, "image_guidance_scale": 5.0, "temperature": 1.0}

    def __init__(self, name: str, cache: ModelCache | None = None, **options: Any) -> None:
        super().__init__(name, **options)
        self.model_id = str(options.get("model") or "")
        if not self.model_id:
            raise BackendLoadError(name, "options.model is missing",
                                   "give a transformers-format Janus checkpoint (hub id or folder)")
        self.cache = cache or shared_cache()
        from backends.diffusers_engine import parse_loras

        self.loras = parse_loras(name, options.get("loras") or [])
        self.base_model = self._resolve_adapter_folder()

    def _resolve_adapter_folder(self) -> str:
        """When ``model`` is a LoRA adapter folder, load ``base_model`` with that adapter on top."""
        folder = Path(self.model_id)
        if not ((folder / "adapter_config.json").exists() and not (folder / "config.json").exists()):
            return self.model_id
        base = self.options.get("base_model")
        if not base:
            raise BackendLoadError(
                self.name, f"'{self.model_id}' holds a LoRA adapter, not a Janus model",
                f"set options.model to the base Janus model and options.loras: [{{path: {self.model_id}}}] "
                "(or options.base_model)")
        self.loras.insert(0, {"path": self.model_id, "scale": 1.0})
        return str(base)

    # -- loading ---------------------------------------------------------------------------
    def entry(self) -> CachedModel:
        """The cached bundle, loading it on first use."""
        try:
            device = pick_device(self.name, self.options.get("device"))
            dtype = pick_dtype(self.name, device, self.options.get("dtype"))
        except Exception as exc:  # noqa: BLE001
            raise load_failure(self.name, self.model_id, exc) from exc

        def load() -> JanusBundle:
            from transformers import AutoImageProcessor, AutoTokenizer, JanusForConditionalGeneration

            offline = local_files_only(self.options)
            check_janus_checkpoint(self.name, self.base_model, offline)
            try:
                model = JanusForConditionalGeneration.from_pretrained(
                    self.base_model, dtype=dtype, local_files_only=offline).to(device).eval()
                tokenizer = AutoTokenizer.from_pretrained(self.base_model, local_files_only=offline)
                processor = AutoImageProcessor.from_pretrained(self.base_model, local_files_only=offline)
            except Exception as exc:  # noqa: BLE001
                raise load_failure(self.name, self.base_model, exc) from exc
            self._load_adapters(model)
            return JanusBundle(model, tokenizer, processor)

        adapters = tuple((lora["path"], lora["scale"]) for lora in self.loras)
        entry = self.cache.get(("janus", self.base_model, device, str(dtype), adapters), load)
        entry.state.setdefault("device", device)
        return entry

    def _load_adapters(self, model: Any) -> None:
        """Put this backend's LoRA adapters on the language model, each at its scale."""
        if not self.loras:
            return
        language_model = model.model.language_model
        names = []
        for i, lora in enumerate(self.loras):
            name = f"studio_{i}"
            try:
                language_model.load_adapter(lora["path"], adapter_name=name)
            except Exception as exc:  # noqa: BLE001
                raise BackendLoadError(
                    self.name, f"LoRA '{lora['path']}' could not be loaded onto '{self.base_model}': "
                    f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                    "check that the adapter was trained on this Janus model's language model") from exc
            for module in language_model.modules():
                scaling = getattr(module, "scaling", None)
                if isinstance(scaling, dict) and name in scaling:
                    scaling[name] *= lora["scale"]
            names.append(name)
        language_model.set_adapter(names if len(names) > 1 else names[0])

    # -- calls -----------------------------------------------------------------------------
    def generate(self, request: GenerationRequest) -> ImageResult:
        from backends import janus_sampling as js

        request.check_cancel()
        entry = self.entry()
        bundle: JanusBundle = entry.value
        scale = float(request.guidance_scale if request.guidance_scale is not None
                      else self.options.get("cfg_scale", 5.0))
        notices = self._notices(request.negative_prompt, request.steps)
        with entry.lock:
            embeds = js.text_to_image_inputs(bundle.model, bundle.tokenizer, request.prompt, self._tokens(bundle),
                                             self._template())
            image, seconds = self._sample(bundle, embeds, js.JanusGuidanceProcessor(scale), request)
        target = (request.width, request.height)
        if image.size != target:
            notices.append(f"Janus renders {image.size[0]}x{image.size[1]}; resized to {target[0]}x{target[1]}")
            image = image.resize(target, Image.LANCZOS)
        return self._result(entry, image, notices, request, seconds, mode="text-to-image", cfg_scale=scale)

    def edit(self, request: EditRequest) -> ImageResult:
        from backends import janus_sampling as js

        request.check_cancel()
        entry = self.entry()
        bundle: JanusBundle = entry.value
        scale = float(request.guidance_scale if request.guidance_scale is not None
                      else self.options.get("cfg_scale", 5.0))
        image_scale = float(request.image_guidance_scale if request.image_guidance_scale is not None
                            else self.options.get("image_cfg_scale", 5.0))
        notices = self._notices(request.negative_prompt, request.steps)
        source = request.image.convert("RGB")
        images = [source, *(r.convert("RGB") for r in request.reference_images)]
        pixel_values = bundle.image_processor(images, return_tensors="pt")["pixel_values"]
        with entry.lock:
            embeds = js.image_edit_inputs(bundle.model, bundle.tokenizer, request.instruction, pixel_values,
                                          self._tokens(bundle), self._template())
            guidance = js.JanusGuidanceProcessor(scale, image_scale)
            image, seconds = self._sample(bundle, embeds, guidance, request)
        if self.options.get("resize_to_input", True) and image.size != source.size:
            notices.append(f"Janus renders {image.size[0]}x{image.size[1]}; resized to the input's "
                           f"{source.size[0]}x{source.size[1]}")
            image = image.resize(source.size, Image.LANCZOS)
        if request.mask is not None:
            mask = request.mask.convert("L").resize(image.size, Image.NEAREST).filter(ImageFilter.GaussianBlur(2))
            image = Image.composite(image, source.resize(image.size, Image.LANCZOS), mask)
            notices.append("Janus has no inpainting: the edit is blended into the original through the mask")
        return self._result(entry, image, notices, request, seconds, mode="text-and-image-to-image",
                            cfg_scale=scale, image_cfg_scale=image_scale, input_images=len(images))

    # -- helpers ---------------------------------------------------------------------------
    def _sample(self, bundle: JanusBundle, embeds: Any, guidance: Any, request: Any) -> tuple[Image.Image, float]:
        import torch

        from backends import janus_sampling as js

        model = bundle.model
        total = int(model.config.vision_config.num_image_tokens)
        temperature = float(request.params.get("temperature", self.options.get("temperature", 1.0)))
        generator = torch.Generator(device=model.device).manual_seed(int(request.seed))
        if request.progress is not None:
            request.progress(0, total)

        def on_token(done: int, n: int) -> None:
            if request.progress is not None:
                request.progress(done, n)
            request.check_cancel()

        def work() -> Image.Image:
            tokens = js.sample_image_tokens(model, embeds, guidance, temperature=temperature, generator=generator,
                                            batched=bool(self.options.get("batched", True)), on_token=on_token)
            return js.decode_image(model, tokens)[0]

        start = time.perf_counter()
        try:
            image = run_gpu_task(work, duration=20 + total * 0.05)
        except Exception as exc:  # noqa: BLE001
            raise run_failure(self.name, exc) from exc
        return image, time.perf_counter() - start

    def _tokens(self, bundle: JanusBundle) -> Any:
        from backends.janus_sampling import JanusTokens

        return JanusTokens.of(bundle.tokenizer, self.options.get("special_tokens"), bundle.model.generation_config)

    def _template(self) -> str:
        from backends.janus_sampling import DEFAULT_TEMPLATE

        return str(self.options.get("prompt_template") or DEFAULT_TEMPLATE)

    @staticmethod
    def _notices(negative: str, steps: int | None) -> list[str]:
        notices = []
        if negative:
            notices.append("negative prompt ignored: Janus guides against a masked prompt instead")
        if steps is not None:
            notices.append("steps ignored: Janus samples a fixed number of image tokens")
        return notices

    def _result(self, entry: CachedModel, image: Image.Image, notices: list[str], request: Any,
                seconds: float, **meta: Any) -> ImageResult:
        metadata = {"engine": self.engine, "model": self.base_model, "seed": request.seed,
                    "loras": [dict(lora) for lora in self.loras],
                    "device": entry.state.get("device"), "seconds": seconds,
                    "temperature": float(request.params.get("temperature", self.options.get("temperature", 1.0))),
                    "batched": bool(self.options.get("batched", True))}
        metadata.update(meta)
        return ImageResult(image=image, backend=self.name, notices=notices, metadata=metadata)
