"""OpenAI-compatible API backends: chat (with image parts) and gpt-image-1-style generate/edit.

Options (backends config ``options:``):
    model         model name sent to the API (required for images; chat defaults to gpt-4o-mini)
    base_url      endpoint; default STUDIO_OPENAI_BASE_URL, then OPENAI_BASE_URL, then api.openai.com
    api_key       default STUDIO_OPENAI_API_KEY, then OPENAI_API_KEY
    timeout       seconds per attempt (default 60 for chat, 180 for images)
    max_retries   retries after the first attempt for 429 / 5xx / timeouts (default 3)
    max_tokens_param  "max_tokens" or "max_completion_tokens" (default: by model name)
    backoff_base, backoff_max   exponential backoff in seconds (0.5, 30)
    sizes         the sizes an image model accepts, e.g. ["1024x1024"]; known for gpt-image-*, dall-e-3 and
                  dall-e-2 (requests snap to the nearest aspect, then area, and are resized back)
    price         USD per million tokens, ``{prompt: 0.15, completion: 0.6}`` (chat) or
                  ``{image: 0.04}`` per image; without it ``cost_usd`` stays None
"""
from __future__ import annotations

import base64
import io
import json
import math
import threading
import time
from typing import Any, Callable, ClassVar

from PIL import Image

from backends.base import (
    Backend,
    BackendError,
    Capability,
    ChatMessage,
    ChatRequest,
    ChatResult,
    EditRequest,
    GenerationRequest,
    ImageResult,
    UnsupportedOperation,
)
from backends.openai_calls import RetryPolicy, call_with_retries, make_client, malformed, resolve_endpoint

#: sizes each OpenAI image model family accepts (by model-name prefix); other models take the
#: requested size unless options.sizes says otherwise
_MODEL_SIZES: dict[str, tuple[str, ...]] = {
    "gpt-image": ("1024x1024", "1536x1024", "1024x1536"),
    "dall-e-3": ("1024x1024", "1792x1024", "1024x1792"),
    "dall-e-2": ("256x256", "512x512", "1024x1024"),
}


class _OpenAIBackend(Backend):
    """Shared setup: endpoint, client, retry policy and running usage totals."""

    default_timeout: ClassVar[float] = 60.0
    default_model: ClassVar[str] = ""

    def __init__(self, name: str, **options: Any) -> None:
        super().__init__(name, **options)
        self.model = str(options.get("model") or self.default_model)
        if not self.model:
            raise BackendError(name, "options.model is missing", "name the API model, e.g. gpt-image-1")
        self.base_url, api_key = resolve_endpoint(name, options.get("base_url"), options.get("api_key"))
        self.timeout = float(options.get("timeout", self.default_timeout))
        self.policy = RetryPolicy(
            max_retries=int(options.get("max_retries", 3)),
            backoff_base=float(options.get("backoff_base", 0.5)),
            backoff_max=float(options.get("backoff_max", 30.0)),
            max_retry_after=float(options.get("max_retry_after", 120.0)),
        )
        self.price: dict[str, float] = {k: float(v) for k, v in (options.get("price") or {}).items()}
        self.client = make_client(name, self.base_url, api_key, self.timeout)
        #: injectable for tests: how the backend waits between attempts (None = cancellable sleep)
        self.sleep: Callable[[float], None] | None = None
        self._totals_lock = threading.Lock()
        self.totals = {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0,
                       "retries": 0}

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["options"] = {k: v for k, v in self.options.items() if k != "api_key"}
        return info

    def _call(self, fn: Callable[[], Any], cancel: threading.Event | None) -> tuple[Any, int]:
        return call_with_retries(
            self.name, fn, self.policy, model=self.model, base_url=self.base_url,
            timeout=self.timeout, cancel=cancel, sleep=self.sleep,
        )

    def _account(self, prompt: int, completion: int, cost: float | None, attempts: int) -> None:
        with self._totals_lock:
            self.totals["calls"] += 1
            self.totals["prompt_tokens"] += prompt
            self.totals["completion_tokens"] += completion
            self.totals["cost_usd"] += cost or 0.0
            self.totals["retries"] += attempts - 1

    def close(self) -> None:
        self.client.close()


class OpenAIChatBackend(_OpenAIBackend):
    """Chat and vision-language through ``/chat/completions``; images travel as data-URL parts."""

    engine = "openai-chat"
    capabilities = frozenset({Capability.CHAT, Capability.VISION_LANGUAGE})
    default_params = {"temperature": 0.7, "max_tokens": 1024}
    default_model = "gpt-4o-mini"

    def chat(self, request: ChatRequest) -> ChatResult:
        messages = [self._message(m) for m in request.messages]
        kwargs: dict[str, Any] = {"model": self.model, "messages": messages}
        if request.temperature is not None:
            kwargs["temperature"] = request.temperature
        if request.max_tokens is not None:
            kwargs[self._max_tokens_arg()] = request.max_tokens
        # unknown parameters go to the server as they are (vLLM/Ollama extensions), as extra_body would
        kwargs.update(request.params)
        start = time.perf_counter()
        # The SDK's plain POST (its documented way to send a body as is): same auth, errors and
        # timeouts as chat.completions.create, without validating the body against the typed
        # request schema and building typed response models, which cost more CPU than the whole
        # rest of a batch item. We read the JSON answer ourselves.
        raw, attempts = self._call(lambda: self.client.post("/chat/completions", body=kwargs, cast_to=str),
                                   request.cancel)
        latency = time.perf_counter() - start
        try:
            resp = json.loads(raw)
            choice = resp["choices"][0]
            text = choice["message"].get("content")
            finish = choice.get("finish_reason")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise malformed(self.name, self.base_url, f"no choices in the answer: {type(exc).__name__}: {exc}") from exc
        if finish == "content_filter":
            raise BackendError(self.name, "the answer was withheld by the provider's content filter",
                               "rephrase the request")
        if not isinstance(text, str):
            raise malformed(self.name, self.base_url, "the answer has no text content")
        usage = resp.get("usage") if isinstance(resp.get("usage"), dict) else {}
        prompt_toks = int(usage.get("prompt_tokens") or 0)
        completion_toks = int(usage.get("completion_tokens") or 0)
        cost = self._cost(prompt_toks, completion_toks)
        self._account(prompt_toks, completion_toks, cost, attempts)
        return ChatResult(
            text=text, backend=self.name, model=resp.get("model") or self.model,
            prompt_tokens=prompt_toks, completion_tokens=completion_toks, latency_s=latency,
            cost_usd=cost, raw={"finish_reason": finish, "attempts": attempts},
        )

    def _max_tokens_arg(self) -> str:
        """Reasoning models (o1/o3/o4, gpt-5) take ``max_completion_tokens``; others ``max_tokens``."""
        if "max_tokens_param" in self.options:
            return str(self.options["max_tokens_param"])
        return "max_completion_tokens" if self.model.startswith(("o1", "o3", "o4", "gpt-5")) else "max_tokens"

    def _cost(self, prompt: int, completion: int) -> float | None:
        if "prompt" not in self.price and "completion" not in self.price:
            return None
        return (prompt * self.price.get("prompt", 0.0) + completion * self.price.get("completion", 0.0)) / 1e6

    def _message(self, msg: ChatMessage) -> dict[str, Any]:
        if not msg.images:
            return {"role": msg.role, "content": msg.content}
        if self.options.get("vision") is False:
            raise UnsupportedOperation(self.name, f"model '{self.model}' does not take images",
                                       "pick a vision-language backend")
        parts: list[dict[str, Any]] = [{"type": "text", "text": msg.content}] if msg.content else []
        detail = self.options.get("image_detail", "auto")
        max_side = int(self.options.get("max_image_side", 2048))
        for img in msg.images:
            url = "data:image/png;base64," + _b64_png(img, max_side)
            parts.append({"type": "image_url", "image_url": {"url": url, "detail": detail}})
        return {"role": msg.role, "content": parts}


class OpenAIImageBackend(_OpenAIBackend):
    """gpt-image-1-style ``/images/generations`` and ``/images/edits`` (mask and several images)."""

    engine = "openai-image"
    capabilities = frozenset({Capability.TEXT_TO_IMAGE, Capability.EDIT, Capability.INPAINT})
    default_params = {"quality": "auto"}
    default_timeout = 180.0
    default_model = "gpt-image-1"

    def generate(self, request: GenerationRequest) -> ImageResult:
        size, notices = self._size(request.width, request.height)
        notices += _ignored_notices(request.negative_prompt, request.steps, request.guidance_scale)
        kwargs = self._image_kwargs(request.params, size)
        kwargs["prompt"] = request.prompt
        return self._run("generate", lambda: self.client.images.generate(**kwargs), request,
                         (request.width, request.height), notices)

    def edit(self, request: EditRequest) -> ImageResult:
        width, height = request.image.size
        size, notices = self._size(width, height)
        notices += _ignored_notices(request.negative_prompt, request.steps, request.guidance_scale)
        images = [request.image, *request.reference_images]
        files = [(f"image{i}.png", _png_bytes(img.convert("RGBA")), "image/png") for i, img in enumerate(images)]
        kwargs = self._image_kwargs(request.params, size)
        kwargs["prompt"] = request.instruction
        kwargs["image"] = files if len(files) > 1 else files[0]
        if request.mask is not None:
            kwargs["mask"] = ("mask.png", _png_bytes(_openai_mask(request.mask, request.image.size)), "image/png")
        return self._run("edit", lambda: self.client.images.edit(**kwargs), request, (width, height), notices)

    # -- helpers ---------------------------------------------------------------------------
    def _image_kwargs(self, params: dict[str, Any], size: str) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"model": self.model, "n": 1, "size": size}
        for key in ("quality", "background", "output_format", "moderation", "input_fidelity", "style"):
            if key in params:
                kwargs[key] = params[key]
        if self.model.startswith("dall-e"):
            kwargs["response_format"] = "b64_json"
        return kwargs

    def _size(self, width: int, height: int) -> tuple[str, list[str]]:
        """The size string to ask for: the nearest allowed bucket when the model has a fixed set."""
        sizes = self.options.get("sizes")
        if sizes is None:
            sizes = next((v for k, v in _MODEL_SIZES.items() if self.model.startswith(k)), None)
        wanted = f"{width}x{height}"
        if not sizes or wanted in sizes:
            return wanted, []
        aspect = width / height

        def distance(s: str) -> tuple[float, float]:
            w, h = (int(x) for x in s.split("x"))
            return abs(math.log(w / h) - math.log(aspect)), abs(math.log(w * h / (width * height)))

        best = min(sizes, key=distance)
        return best, [f"{self.model} renders {best}; the result is resized to {wanted}"]

    def _run(self, op: str, fn: Callable[[], Any], request: Any, target: tuple[int, int],
             notices: list[str]) -> ImageResult:
        request.check_cancel()
        if request.progress is not None:
            request.progress(0, 1)
        start = time.perf_counter()
        resp, attempts = self._call(fn, request.cancel)
        latency = time.perf_counter() - start
        image = self._decode(resp)
        if image.size != target and self.options.get("resize_to_request", True):
            image = image.resize(target, Image.LANCZOS)
        usage = getattr(resp, "usage", None)
        in_toks = int(getattr(usage, "input_tokens", 0) or 0)
        out_toks = int(getattr(usage, "output_tokens", 0) or 0)
        cost = self.price["image"] if "image" in self.price else None
        self._account(in_toks, out_toks, cost, attempts)
        if request.progress is not None:
            request.progress(1, 1)
        revised = getattr(resp.data[0], "revised_prompt", None)
        return ImageResult(
            image=image, backend=self.name, notices=notices,
            metadata={"engine": self.engine, "model": self.model, "op": op, "attempts": attempts,
                      "latency_s": latency, "input_tokens": in_toks, "output_tokens": out_toks,
                      "cost_usd": cost, "revised_prompt": revised, "seed_honored": False},
        )

    def _decode(self, resp: Any) -> Image.Image:
        try:
            item = resp.data[0]
        except (AttributeError, IndexError, TypeError) as exc:
            raise malformed(self.name, self.base_url, f"no image in the answer: {exc}") from exc
        b64 = getattr(item, "b64_json", None)
        try:
            if b64:
                raw = base64.b64decode(b64)
            elif getattr(item, "url", None):
                raw = _download(item.url, self.timeout)
            else:
                raise ValueError("the image has neither b64_json nor url")
            img = Image.open(io.BytesIO(raw))
            img.load()
        except BackendError:
            raise
        except Exception as exc:  # noqa: BLE001 - any decode failure is a malformed answer
            raise malformed(self.name, self.base_url, f"image not decodable: {exc}") from exc
        return img.convert("RGB")


def _download(url: str, timeout: float) -> bytes:
    """Fetch an image the API returned by URL (dall-e style answers)."""
    import httpx

    resp = httpx.get(url, timeout=timeout, follow_redirects=True)
    resp.raise_for_status()
    return resp.content


def _ignored_notices(negative: str, steps: int | None, guidance: float | None) -> list[str]:
    out = []
    if negative:
        out.append("negative prompt ignored: the API has none")
    if steps is not None or guidance is not None:
        out.append("steps/guidance ignored: the API does not expose them")
    return out


def _openai_mask(mask: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Studio masks are white where to edit; the API wants transparency there."""
    grey = mask.convert("L").resize(size, Image.NEAREST)
    rgba = Image.new("RGBA", size, (0, 0, 0, 255))
    rgba.putalpha(grey.point(lambda v: 255 - v))
    return rgba


def _png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _b64_png(img: Image.Image, max_side: int) -> str:
    if max(img.size) > max_side:
        img = img.copy()
        img.thumbnail((max_side, max_side), Image.LANCZOS)
    if img.mode not in ("RGB", "RGBA", "L"):
        img = img.convert("RGB")
    return base64.b64encode(_png_bytes(img)).decode("ascii")
