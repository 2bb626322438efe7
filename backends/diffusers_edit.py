"""diffusers image editing: InstructPix2Pix (SD/SDXL), FLUX Kontext, Qwen-Image-Edit (+Plus), OmniGen,
inpainting pipelines, and image-to-image for any other base.

The family is read from the model's ``model_index.json`` (or ``options.pipeline``). Each family gets the
input size it expects (multiples, an area budget or Kontext's buckets) and the result is resized back
to the input size unless ``resize_to_input: false``. A mask goes to the family's inpaint variant when
diffusers has one, otherwise the edit is composited through the mask (and a notice says so).

Extra options on top of the text-to-image ones: ``pipeline`` (a family key below), ``max_side``,
``max_area``, ``kontext_auto_resize`` (default true), ``resize_to_input`` (default true),
``image_guidance_scale``, ``strength``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageFilter

from backends.base import BackendError, BackendLoadError, Capability, EditRequest, ImageResult
from backends.diffusers_engine import DiffusersBackend, call_parameters, round_size, size_multiple


@dataclass(frozen=True)
class EditFamily:
    """How one kind of edit pipeline is called."""

    key: str
    classes: tuple[str, ...]
    cfg_arg: str = "guidance_scale"
    cfg_default: float | None = None
    image_cfg_arg: str | None = None
    image_cfg_default: float | None = None
    image_arg: str = "image"
    multi_image: bool = False
    #: working size: "side" (long side <= max_side), "area" (w*h <= max_area), "native" (the pipeline decides)
    sizing: str = "side"
    max_side: int = 1024
    max_area: int = 1024 * 1024
    #: diffusers class to build with from_pipe for masked edits; "" composites through the mask
    inpaint_class: str = ""
    needs_mask: bool = False
    strength: bool = False
    pass_size: bool = True
    #: sent when the user gives none (Qwen-Image's true CFG only runs with a negative prompt)
    default_negative: str | None = None


FAMILIES: dict[str, EditFamily] = {f.key: f for f in (
    EditFamily("instruct-pix2pix", ("StableDiffusionInstructPix2PixPipeline",), cfg_default=7.5,
               image_cfg_arg="image_guidance_scale", image_cfg_default=1.5, max_side=768, pass_size=False),
    EditFamily("instruct-pix2pix-xl", ("StableDiffusionXLInstructPix2PixPipeline",), cfg_default=5.0,
               image_cfg_arg="image_guidance_scale", image_cfg_default=1.5, max_side=1024, pass_size=False),
    EditFamily("flux-kontext", ("FluxKontextPipeline",), cfg_default=2.5, sizing="area",
               inpaint_class="FluxKontextInpaintPipeline"),
    EditFamily("qwen-image-edit", ("QwenImageEditPipeline",), cfg_arg="true_cfg_scale", cfg_default=4.0,
               sizing="native", pass_size=False, inpaint_class="QwenImageEditInpaintPipeline",
               default_negative=" "),
    EditFamily("qwen-image-edit-plus", ("QwenImageEditPlusPipeline",), cfg_arg="true_cfg_scale",
               cfg_default=4.0, multi_image=True, sizing="native", pass_size=False, default_negative=" "),
    EditFamily("omnigen", ("OmniGenPipeline",), cfg_default=2.5, image_cfg_arg="img_guidance_scale",
               image_cfg_default=1.6, image_arg="input_images", multi_image=True, max_side=1024),
    EditFamily("inpaint", ("StableDiffusionInpaintPipeline", "StableDiffusionXLInpaintPipeline",
                           "FluxFillPipeline", "FluxInpaintPipeline", "FluxKontextInpaintPipeline",
                           "QwenImageEditInpaintPipeline", "QwenImageInpaintPipeline",
                           "StableDiffusion3InpaintPipeline"), needs_mask=True, strength=True),
    EditFamily("img2img", (), strength=True, inpaint_class="auto"),
)}


def family_for_class(class_name: str) -> EditFamily:
    """The edit family of a diffusers pipeline class name (img2img for plain text-to-image bases)."""
    for family in FAMILIES.values():
        if class_name in family.classes:
            return family
    if "Inpaint" in class_name or "Fill" in class_name:
        return FAMILIES["inpaint"]
    return FAMILIES["img2img"]


class DiffusersEdit(DiffusersBackend):
    """Instruction editing and inpainting through diffusers pipelines."""

    engine = "diffusers-edit"
    capabilities = frozenset({Capability.EDIT, Capability.INPAINT})
    default_params = {"steps": 30}

    def __init__(self, name: str, **options: Any) -> None:
        super().__init__(name, **options)
        chosen = options.get("pipeline")
        if chosen is not None and chosen not in FAMILIES:
            raise BackendLoadError(name, f"unknown edit pipeline '{chosen}'",
                                   f"use one of {', '.join(FAMILIES)} or leave it out to detect it")
        self._family: EditFamily | None = FAMILIES[chosen] if chosen else None

    @property
    def family(self) -> EditFamily:
        """The family, read from the model's model_index.json on first use."""
        if self._family is None:
            from diffusers import DiffusionPipeline

            from backends.runtime import load_failure, local_files_only

            try:
                config = DiffusionPipeline.load_config(self.model, local_files_only=local_files_only(self.options))
            except Exception as exc:  # noqa: BLE001
                raise load_failure(self.name, self.model, exc) from exc
            self._family = family_for_class(str(config.get("_class_name", "")))
        return self._family

    def _load_pipeline(self, device: str, dtype: Any) -> Any:
        if self.family.key == "img2img":
            from diffusers import AutoPipelineForImage2Image

            return AutoPipelineForImage2Image.from_pretrained(self.model, **self._load_kwargs(dtype))
        from diffusers import DiffusionPipeline

        return DiffusionPipeline.from_pretrained(self.model, **self._load_kwargs(dtype))

    def _inpaint_pipe(self, entry: Any, pipe: Any) -> Any | None:
        """The masked-edit variant sharing the loaded components, or None to composite instead."""
        fam = self.family
        if not fam.inpaint_class:
            return None
        if "inpaint" not in entry.state:
            import diffusers

            if fam.inpaint_class == "auto":
                inpaint = diffusers.AutoPipelineForInpainting.from_pipe(pipe)
            else:
                inpaint = getattr(diffusers, fam.inpaint_class).from_pipe(pipe)
            inpaint.set_progress_bar_config(disable=True)
            entry.state["inpaint"] = inpaint
        return entry.state["inpaint"]

    def edit(self, request: EditRequest) -> ImageResult:
        request.check_cancel()
        fam = self.family
        if fam.needs_mask and request.mask is None:
            raise BackendError(self.name, "this inpainting model needs a mask",
                                   "paint a mask over the area to change, or pick an instruction-edit backend")
        entry = self.entry()
        base_pipe = entry.value
        notices = self.load_notices(base_pipe)
        source = request.image.convert("RGB")
        in_size = source.size
        pipe = base_pipe
        composite = False
        if request.mask is not None and not fam.needs_mask:
            pipe = self._inpaint_pipe(entry, base_pipe) or base_pipe
            composite = pipe is base_pipe
            if composite:
                notices.append(f"{type(base_pipe).__name__} has no inpaint variant: the edit is blended "
                               "into the original through the mask")
        work_size = self._working_size(base_pipe, in_size)
        working = source.resize(work_size, Image.LANCZOS) if work_size != in_size else source
        steps = int(request.steps or self.options.get("steps") or 30)
        kwargs = self._call_kwargs(pipe, fam, request, working, work_size, steps, notices,
                                   inpainting=pipe is not base_pipe or fam.needs_mask)
        start = time.perf_counter()
        with entry.lock:
            self._apply_loras(entry, base_pipe)
            scheduler = self._request_scheduler(entry, base_pipe, request.params)
            if pipe is not base_pipe:
                pipe.scheduler = base_pipe.scheduler
            kwargs.update(self._pipeline_kwargs(pipe, request.params, notices))
            result = self._run(pipe, kwargs, request, steps, work_size[0] * work_size[1])
        out_size = in_size if self.options.get("resize_to_input", True) else result.size
        if result.size != out_size:
            notices.append(f"{type(pipe).__name__} rendered {result.size[0]}x{result.size[1]}; "
                           f"resized to {out_size[0]}x{out_size[1]}")
            result = result.resize(out_size, Image.LANCZOS)
        if composite:
            mask = request.mask.convert("L").resize(out_size, Image.NEAREST).filter(ImageFilter.GaussianBlur(2))
            result = Image.composite(result, source.resize(out_size, Image.LANCZOS), mask)
        return ImageResult(
            image=result, backend=self.name, notices=notices,
            metadata=self._metadata(entry, seed=request.seed, steps=steps, family=fam.key,
                                    pipeline=type(pipe).__name__, scheduler=scheduler,
                                    working_size=list(work_size), masked=request.mask is not None,
                                    seconds=time.perf_counter() - start),
        )

    # -- sizes and arguments ---------------------------------------------------------------
    def _working_size(self, pipe: Any, size: tuple[int, int]) -> tuple[int, int]:
        """The size the family expects for an input of ``size``."""
        fam = self.family
        w, h = size
        multiple = size_multiple(pipe)
        if fam.sizing == "native":
            return size
        if fam.sizing == "area":
            max_area = int(self.options.get("max_area", fam.max_area))
            scale = (max_area / (w * h)) ** 0.5
        else:
            max_side = int(self.options.get("max_side", fam.max_side))
            scale = min(1.0, max_side / max(w, h))
        return round_size(round(w * scale), multiple), round_size(round(h * scale), multiple)

    def _call_kwargs(self, pipe: Any, fam: EditFamily, request: EditRequest, working: Image.Image,
                     work_size: tuple[int, int], steps: int, notices: list[str], inpainting: bool) -> dict:
        """Arguments for this family's ``__call__``."""
        refs = [r.convert("RGB") for r in request.reference_images]
        if refs and not fam.multi_image:
            notices.append(f"{len(refs)} reference image(s) ignored: {type(pipe).__name__} takes one image")
            refs = []
        prompt = request.instruction
        images: Any = [working, *refs] if refs else working
        if fam.key == "omnigen":
            tags = " ".join(f"<img><|image_{i + 1}|></img>" for i in range(1 + len(refs)))
            prompt = f"{tags} {prompt}"
            images = [working, *refs]
        kwargs: dict[str, Any] = {"prompt": prompt, fam.image_arg: images, "num_inference_steps": steps,
                                  "output_type": "pil"}
        if fam.pass_size or inpainting:
            kwargs["width"], kwargs["height"] = work_size
        if fam.key == "flux-kontext":
            kwargs["max_area"] = work_size[0] * work_size[1]
            kwargs["_auto_resize"] = bool(self.options.get("kontext_auto_resize", True))
        guidance = request.guidance_scale if request.guidance_scale is not None else \
            self.options.get("guidance_scale", fam.cfg_default)
        if guidance is not None:
            kwargs[fam.cfg_arg] = float(guidance)
        if fam.image_cfg_arg:
            img_cfg = request.image_guidance_scale if request.image_guidance_scale is not None else \
                self.options.get("image_guidance_scale", fam.image_cfg_default)
            if img_cfg is not None:
                kwargs[fam.image_cfg_arg] = float(img_cfg)
        elif request.image_guidance_scale is not None:
            notices.append(f"image guidance ignored: {type(pipe).__name__} has none")
        if inpainting:
            kwargs["mask_image"] = request.mask.convert("L").resize(work_size, Image.NEAREST)
        strength = request.strength if request.strength is not None else self.options.get("strength")
        if fam.strength or inpainting:
            if strength is not None:
                kwargs["strength"] = float(strength)
        elif strength is not None:
            notices.append(f"strength ignored: {type(pipe).__name__} edits by instruction")
        negative = request.negative_prompt or fam.default_negative
        if negative:
            if "negative_prompt" in _call_params(pipe):
                kwargs["negative_prompt"] = negative
            elif request.negative_prompt:
                notices.append(f"negative prompt ignored: {type(pipe).__name__} has none")
        accepted = _call_params(pipe)
        for key in [k for k in kwargs if k not in accepted]:
            kwargs.pop(key)
        return kwargs


def _call_params(pipe: Any) -> frozenset[str]:
    return call_parameters(type(pipe))
