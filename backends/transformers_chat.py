"""Local chat models through transformers: causal LMs and vision-language models (e.g. Qwen2.5-VL).

Options: model (hub id or folder), device, dtype, max_new_tokens (512), temperature (0.7; 0 is greedy),
chat_template (overrides the tokenizer's), vision ("auto": a config with a vision part is a VLM).
The model's own chat template formats the conversation; images travel as image parts to a VLM.
"""
from __future__ import annotations

import threading
import time
from typing import Any

from backends.base import (
    Backend,
    BackendLoadError,
    Capability,
    ChatRequest,
    ChatResult,
    UnsupportedOperation,
)
from backends.model_cache import CachedModel, ModelCache, shared_cache
from backends.runtime import load_failure, local_files_only, pick_device, pick_dtype, run_failure, run_gpu_task

_SEED_LOCK = threading.Lock()


class ChatBundle:
    """Loaded model and its tokenizer or processor."""

    def __init__(self, model: Any, processor: Any, is_vlm: bool) -> None:
        self.model = model
        self.processor = processor
        self.is_vlm = is_vlm

    @property
    def tokenizer(self) -> Any:
        return getattr(self.processor, "tokenizer", self.processor)

    @property
    def components(self) -> dict[str, Any]:
        return {"model": self.model}


class TransformersChatBackend(Backend):
    """Chat (and image questions for VLMs) with a local transformers model."""

    uses_gpu = True
    engine = "transformers-chat"
    capabilities = frozenset({Capability.CHAT, Capability.VISION_LANGUAGE})
    default_params = {"temperature": 0.7, "max_tokens": 512}

    def __init__(self, name: str, cache: ModelCache | None = None, **options: Any) -> None:
        super().__init__(name, **options)
        self.model_id = str(options.get("model") or "")
        if not self.model_id:
            raise BackendLoadError(name, "options.model is missing", "give a hub id or a local folder")
        self.cache = cache or shared_cache()

    def entry(self) -> CachedModel:
        """The cached model bundle, loading it on first use."""
        try:
            device = pick_device(self.name, self.options.get("device"))
            dtype = pick_dtype(self.name, device, self.options.get("dtype"))
        except Exception as exc:  # noqa: BLE001
            raise load_failure(self.name, self.model_id, exc) from exc
        return self.cache.get(("transformers-chat", self.model_id, device, str(dtype)),
                              lambda: self._load(device, dtype))

    def _load(self, device: str, dtype: Any) -> ChatBundle:
        import transformers as tf

        offline = local_files_only(self.options)
        try:
            config = tf.AutoConfig.from_pretrained(self.model_id, local_files_only=offline)
            vision = self.options.get("vision", "auto")
            is_vlm = (getattr(config, "vision_config", None) is not None) if vision == "auto" else bool(vision)
            if is_vlm:
                model = tf.AutoModelForImageTextToText.from_pretrained(self.model_id, dtype=dtype,
                                                                       local_files_only=offline)
                processor = tf.AutoProcessor.from_pretrained(self.model_id, local_files_only=offline)
            else:
                model = tf.AutoModelForCausalLM.from_pretrained(self.model_id, dtype=dtype, local_files_only=offline)
                processor = tf.AutoTokenizer.from_pretrained(self.model_id, local_files_only=offline)
            model = model.to(device).eval()
        except Exception as exc:  # noqa: BLE001
            raise load_failure(self.name, self.model_id, exc) from exc
        template = self.options.get("chat_template")
        if template:
            processor.chat_template = template
            if hasattr(processor, "tokenizer"):
                processor.tokenizer.chat_template = template
        if not getattr(processor, "chat_template", None):
            raise BackendLoadError(self.name, f"'{self.model_id}' has no chat template",
                                   "use an instruction-tuned model or set options.chat_template (Jinja)")
        return ChatBundle(model, processor, is_vlm)

    def chat(self, request: ChatRequest) -> ChatResult:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        if request.cancel is not None and request.cancel.is_set():
            from backends.base import Cancelled

            raise Cancelled()
        entry = self.entry()
        bundle: ChatBundle = entry.value
        has_images = any(m.images for m in request.messages)
        if has_images and not bundle.is_vlm:
            raise UnsupportedOperation(self.name, f"'{self.model_id}' is a text-only model and cannot see images",
                                       "pick a vision-language backend (e.g. Qwen2.5-VL)")
        inputs = self._inputs(bundle, request)
        model = bundle.model
        inputs = {k: (v.to(model.device) if hasattr(v, "to") else v) for k, v in inputs.items()}
        prompt_len = int(inputs["input_ids"].shape[1])
        temperature = request.temperature if request.temperature is not None else \
            float(self.options.get("temperature", 0.7))
        max_new = int(request.max_tokens or self.options.get("max_new_tokens", 512))
        cancel = request.cancel

        class _StopOnCancel(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                stop = cancel is not None and cancel.is_set()
                return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)

        gen_kwargs: dict[str, Any] = {"max_new_tokens": max_new, "stopping_criteria": StoppingCriteriaList([_StopOnCancel()])}
        if temperature and temperature > 0:
            gen_kwargs.update(do_sample=True, temperature=float(temperature))
            if "top_p" in request.params:
                gen_kwargs["top_p"] = float(request.params["top_p"])
        else:
            gen_kwargs.update(do_sample=False)
        tokenizer = bundle.tokenizer
        if tokenizer.pad_token_id is None and tokenizer.eos_token_id is not None:
            gen_kwargs["pad_token_id"] = tokenizer.eos_token_id

        def work() -> Any:
            with _SEED_LOCK, entry.lock, torch.inference_mode():
                torch.manual_seed(int(request.params.get("seed", 0)))
                return model.generate(**inputs, **gen_kwargs)

        start = time.perf_counter()
        try:
            output = run_gpu_task(work, duration=10 + max_new * 0.05)
        except Exception as exc:  # noqa: BLE001
            raise run_failure(self.name, exc) from exc
        if cancel is not None and cancel.is_set():
            from backends.base import Cancelled

            raise Cancelled()
        new_tokens = output[0, prompt_len:]
        eos = tokenizer.eos_token_id
        completion = int((new_tokens != eos).sum()) if eos is not None else int(new_tokens.numel())
        text = tokenizer.decode(new_tokens, skip_special_tokens=True).strip()
        return ChatResult(text=text, backend=self.name, model=self.model_id, prompt_tokens=prompt_len,
                          completion_tokens=completion, latency_s=time.perf_counter() - start, cost_usd=None,
                          raw={"vision": bundle.is_vlm, "temperature": temperature})

    def _inputs(self, bundle: ChatBundle, request: ChatRequest) -> dict[str, Any]:
        """Tokenized conversation through the model's chat template."""
        if bundle.is_vlm:
            messages = []
            for m in request.messages:
                parts: list[dict[str, Any]] = [{"type": "image", "image": img.convert("RGB")} for img in m.images]
                parts.append({"type": "text", "text": m.content})
                messages.append({"role": m.role, "content": parts})
            return dict(bundle.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                             return_dict=True, return_tensors="pt"))
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        encoded = bundle.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                       return_dict=True, return_tensors="pt")
        return dict(encoded)
