"""Tiny test-double engines for registry and UI tests (plugged in as custom 'module:Class' engines)."""
from __future__ import annotations

import threading

from PIL import Image

from backends.base import Backend, BackendLoadError, Capability, GenerationRequest, ImageResult

CONSTRUCTED: list[str] = []


class SolidColor(Backend):
    """Fills the canvas with a colour from its options; records that it was built."""

    engine = "tests.support.fake_backends:SolidColor"
    capabilities = frozenset({Capability.TEXT_TO_IMAGE})

    def __init__(self, name: str, color: str = "gray", **options) -> None:
        super().__init__(name, color=color, **options)
        CONSTRUCTED.append(name)
        self.color = color

    def generate(self, request: GenerationRequest) -> ImageResult:
        return ImageResult(Image.new("RGB", (request.width, request.height), self.color), backend=self.name)


class FailsToLoad(Backend):
    engine = "tests.support.fake_backends:FailsToLoad"
    capabilities = frozenset({Capability.TEXT_TO_IMAGE})

    def __init__(self, name: str, **options) -> None:
        raise RuntimeError("CUDA out of memory while loading weights")


class ScriptedDetector(Backend):
    """An object detector that reports the boxes of its ``boxes`` option: [[label, score, x0, y0, x1, y1], ...]."""

    engine = "tests.support.fake_backends:ScriptedDetector"
    capabilities = frozenset({Capability.OBJECT_DETECTION})

    def __init__(self, name: str, boxes=(), **options) -> None:
        super().__init__(name, boxes=boxes, **options)
        self.boxes = [tuple(b) for b in boxes]

    def detect(self, image, labels):
        from backends.transformers_detect import Detection

        found = [Detection(b[0], float(b[1]), tuple(float(v) for v in b[2:6])) for b in self.boxes]
        return sorted(found, key=lambda d: -d.score)

class MissingWeights(Backend):
    """Cannot load: its weights folder (a server path from its options) is missing."""

    engine = "tests.support.fake_backends:MissingWeights"
    capabilities = frozenset({Capability.TEXT_TO_IMAGE})

    def __init__(self, name: str, model: str = "", **options) -> None:
        raise BackendLoadError(name, f"model weights for '{model}' not found",
                               f"download them into {model} or fix options.model")


#: WaitsForGate's load blocks until the test sets GATE; ENTERED says a load has begun
GATE = threading.Event()
ENTERED = threading.Event()


class WaitsForGate(Backend):
    """A load that takes as long as the test wants (then fails, so the next check loads again)."""

    engine = "tests.support.fake_backends:WaitsForGate"
    capabilities = frozenset({Capability.TEXT_TO_IMAGE})

    def __init__(self, name: str, **options) -> None:
        ENTERED.set()
        GATE.wait(120)
        raise BackendLoadError(name, "the test released the load", "")
