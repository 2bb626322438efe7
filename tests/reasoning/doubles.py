"""Image backends for the reasoning tests, plugged in as custom engines ("tests.reasoning.doubles:Class")."""
from __future__ import annotations

import hashlib
import threading
import time

from PIL import Image, ImageDraw

from backends.base import Backend, BackendError, Capability, EditRequest, GenerationRequest, ImageResult


def _colour(text: str) -> tuple[int, int, int]:
    d = hashlib.sha256(text.encode()).digest()
    return d[0], d[1], d[2]


class PromptPainter(Backend):
    """Paints a colour derived from the prompt; waits ``delay`` seconds (or per-prompt ``delays``).

    A prompt containing "FAIL" raises a BackendError, one containing "HANG" sleeps until cancelled,
    one containing "GATED" waits until the test sets ``gate``.
    """

    engine = "tests.reasoning.doubles:PromptPainter"
    capabilities = frozenset({Capability.TEXT_TO_IMAGE, Capability.EDIT})

    def __init__(self, name: str, delay: float = 0.0, delays: dict | None = None, **options) -> None:
        super().__init__(name, delay=delay, **options)
        self.delay = float(delay)
        self.delays = {str(k): float(v) for k, v in (delays or {}).items()}
        self.prompts: list[str] = []
        self.gate = threading.Event()
        self.gate.set()

    def _wait(self, prompt: str, cancel) -> None:
        if "FAIL" in prompt:
            raise BackendError(self.name, "the prompt was rejected by the safety filter", "rephrase it")
        wait = next((v for k, v in self.delays.items() if k in prompt), self.delay)
        if "HANG" in prompt:
            wait = 3600
        if "GATED" in prompt:
            while not self.gate.wait(0.01):
                if cancel is not None and cancel.is_set():
                    raise BackendError(self.name, "cancelled")
        deadline = time.perf_counter() + wait
        while time.perf_counter() < deadline:
            if cancel is not None and cancel.is_set():
                raise BackendError(self.name, "cancelled")
            time.sleep(min(0.01, max(0.0, deadline - time.perf_counter())))

    def generate(self, request: GenerationRequest) -> ImageResult:
        self.prompts.append(request.prompt)
        self._wait(request.prompt, request.cancel)
        img = Image.new("RGB", (request.width, request.height), _colour(request.prompt))
        ImageDraw.Draw(img).text((4, 4), request.prompt[:30], fill=(255, 255, 255))
        return ImageResult(img, backend=self.name)

    def edit(self, request: EditRequest) -> ImageResult:
        self.prompts.append(request.instruction)
        self._wait(request.instruction, request.cancel)
        img = request.image.copy()
        ImageDraw.Draw(img).rectangle([0, 0, img.width // 2, img.height // 2], fill=_colour(request.instruction))
        return ImageResult(img, backend=self.name)
