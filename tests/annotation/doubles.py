"""Test-double backends plugged in through a backends YAML as custom engines."""
from __future__ import annotations

import hashlib
import threading

from PIL import Image

from backends.base import Backend, BackendError, Capability, EditRequest, GenerationRequest, ImageResult


class SolidColorBackend(Backend):
    """Paints a colour derived from (backend name, prompt, seed); counts its calls."""

    engine = "test-solid"
    capabilities = frozenset({Capability.TEXT_TO_IMAGE, Capability.EDIT})
    calls: list[tuple[str, str]] = []

    def _paint(self, text: str, seed: int, size: tuple[int, int]) -> Image.Image:
        if "FAIL" in text and self.options.get("fragile"):
            raise BackendError(self.name, "refused this prompt", "try another prompt")
        h = hashlib.sha256(f"{self.name}|{text}|{seed}".encode()).digest()
        SolidColorBackend.calls.append((self.name, text))
        return Image.new("RGB", size, (h[0], h[1], h[2]))

    #: set when a request with the ``hold_on`` prompt is waiting for its cancel
    holding = threading.Event()

    def generate(self, request: GenerationRequest) -> ImageResult:
        if request.prompt == self.options.get("hold_on"):  # hold until the user cancels
            SolidColorBackend.holding.set()
            request.cancel.wait(30)
            request.check_cancel()
        return ImageResult(self._paint(request.prompt, request.seed, (request.width, request.height)), backend=self.name)

    def edit(self, request: EditRequest) -> ImageResult:
        return ImageResult(self._paint(request.instruction, request.seed, request.image.size), backend=self.name)


BACKENDS_YAML = """
backends:
  model-alpha-zq:
    engine: tests.annotation.doubles:SolidColorBackend
    capabilities: [text-to-image, edit]
  model-beta-kx:
    engine: tests.annotation.doubles:SolidColorBackend
    capabilities: [text-to-image, edit]
  model-gamma-fragile:
    engine: tests.annotation.doubles:SolidColorBackend
    capabilities: [text-to-image]
    options: {fragile: true}
  chat-only:
    engine: tests.annotation.doubles:SolidColorBackend
    capabilities: [chat]
"""


def write_backends(tmp_path) -> str:
    path = tmp_path / "backends.yaml"
    path.write_text(BACKENDS_YAML)
    return str(path)
