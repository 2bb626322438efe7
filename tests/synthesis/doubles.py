"""Test doubles for synthesis batches: image backends plugged in as custom engines."""
from __future__ import annotations

import os
import time

from PIL import Image, ImageDraw

from backends.base import Backend, BackendError, Capability, EditRequest, GenerationRequest, ImageResult


class TinyPainter(Backend):
    """Draws a small image whose color depends on the prompt; edits tint the input.

    ``delay`` (seconds per call) slows it down so a test can kill a batch mid-way; ``fail_word`` makes
    any prompt containing that word fail like a remote error would.
    """

    capabilities = frozenset({Capability.TEXT_TO_IMAGE, Capability.EDIT})

    def __init__(self, name: str, delay: float = 0.0, fail_word: str = "", **options) -> None:
        super().__init__(name, **options)
        self.delay = float(os.environ.get("TINY_PAINTER_DELAY", delay))
        self.fail_word = fail_word

    def _check(self, text: str) -> None:
        if self.delay:
            time.sleep(self.delay)
        if self.fail_word and self.fail_word in text:
            raise BackendError(self.name, f"refused a prompt containing {self.fail_word!r}", "change the prompt")

    def generate(self, request: GenerationRequest) -> ImageResult:
        self._check(request.prompt)
        h = sum(request.prompt.encode()) + request.seed
        img = Image.new("RGB", (32, 32), (h % 256, (h // 7) % 256, (h // 13) % 256))
        ImageDraw.Draw(img).text((2, 2), str(len(request.prompt)), fill="white")
        return ImageResult(image=img, backend=self.name)

    def edit(self, request: EditRequest) -> ImageResult:
        self._check(request.instruction)
        img = request.image.copy().convert("RGB")
        ImageDraw.Draw(img).rectangle((0, 0, 8, 8), fill=(len(request.instruction) % 256, 10, 200))
        return ImageResult(image=img, backend=self.name)
