"""The test-double engines of every test area, plugged in through a backends config as custom
"tests.support.fake_backends:Class" engines (or built directly)."""
from __future__ import annotations

import hashlib
import os
import threading
import time

from PIL import Image, ImageDraw

from backends.base import (Backend, BackendError, BackendLoadError, Capability, EditRequest, GenerationRequest,
                           ImageResult)

CONSTRUCTED: list[str] = []


class SolidColor(Backend):
    """Fills the canvas with its ``color`` option, or with a colour derived from (name, prompt, seed) when
    it has none. With ``fragile: true`` a prompt containing "FAIL" is refused; with ``hold_on: PROMPT`` a
    request for that prompt waits until it is cancelled (``holding`` is set while it waits). Records its
    builds (``CONSTRUCTED``) and its calls (``calls``: (name, prompt))."""

    engine = "tests.support.fake_backends:SolidColor"
    capabilities = frozenset({Capability.TEXT_TO_IMAGE, Capability.EDIT})
    calls: list[tuple[str, str]] = []
    holding = threading.Event()

    def __init__(self, name: str, color: str | None = None, **options) -> None:
        super().__init__(name, color=color, **options)
        CONSTRUCTED.append(name)
        self.color = color

    def _paint(self, text: str, seed: int, size: tuple[int, int]) -> Image.Image:
        if "FAIL" in text and self.options.get("fragile"):
            raise BackendError(self.name, "refused this prompt", "try another prompt")
        SolidColor.calls.append((self.name, text))
        if self.color is not None:
            return Image.new("RGB", size, self.color)
        h = hashlib.sha256(f"{self.name}|{text}|{seed}".encode()).digest()
        return Image.new("RGB", size, (h[0], h[1], h[2]))

    def generate(self, request: GenerationRequest) -> ImageResult:
        if request.prompt == self.options.get("hold_on"):  # hold until the user cancels
            SolidColor.holding.set()
            request.cancel.wait(30)
            request.check_cancel()
        return ImageResult(self._paint(request.prompt, request.seed, (request.width, request.height)), backend=self.name)

    def edit(self, request: EditRequest) -> ImageResult:
        return ImageResult(self._paint(request.instruction, request.seed, request.image.size), backend=self.name)


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


# -- the comparison-batch tests' backends config ----------------------------------------------------
BACKENDS_YAML = """
backends:
  model-alpha-zq:
    engine: tests.support.fake_backends:SolidColor
    capabilities: [text-to-image, edit]
  model-beta-kx:
    engine: tests.support.fake_backends:SolidColor
    capabilities: [text-to-image, edit]
  model-gamma-fragile:
    engine: tests.support.fake_backends:SolidColor
    capabilities: [text-to-image]
    options: {fragile: true}
  chat-only:
    engine: tests.support.fake_backends:SolidColor
    capabilities: [chat]
"""


def write_backends(tmp_path) -> str:
    path = tmp_path / "backends.yaml"
    path.write_text(BACKENDS_YAML)
    return str(path)


# -- painters of the edit chat tests ---------------------------------------------------------------
COLORS = {"red": (220, 30, 30), "green": (30, 180, 60), "blue": (30, 60, 220), "yellow": (240, 220, 40)}


class BoxPainter(Backend):
    """Paints a box whose colour the instruction names; position from the instruction's hash.

    "fail" in an instruction raises a BackendError; "hang" waits for the cancel event.
    """

    engine = "tests.support.fake_backends:BoxPainter"
    capabilities = frozenset({Capability.EDIT, Capability.INPAINT, Capability.TEXT_TO_IMAGE})
    default_params = {"seed": 7, "steps": 3, "strength": 0.8}

    def __init__(self, name: str, **options) -> None:
        super().__init__(name, **options)
        self.seen: set[str] = set()

    def edit(self, request: EditRequest) -> ImageResult:
        text = request.instruction.lower()
        if "fail" in text:
            raise BackendError(self.name, "cannot do that on purpose", "ask for something else")
        if "flaky" in text and text not in self.seen:
            self.seen.add(text)
            raise BackendError(self.name, "temporary hiccup", "retry")
        if "hang" in text:
            while not (request.cancel and request.cancel.is_set()):
                time.sleep(0.01)
            request.check_cancel()
        img = request.image.convert("RGB").copy()
        colour = next((c for name, c in COLORS.items() if name in text), None)
        w, h = img.size
        if request.mask is not None:
            box = request.mask.convert("L").point(lambda v: 255 if v > 127 else 0).getbbox()
        else:
            digest = hashlib.sha256(text.encode()).digest()
            x, y = digest[0] % max(1, w // 2), digest[1] % max(1, h // 2)
            box = (x, y, x + w // 4, y + h // 4)
        if colour is not None and box:
            ImageDraw.Draw(img).rectangle(box, fill=colour)
        honored = [n for n in COLORS if n in text]
        ignored = [] if colour else [request.instruction]
        return ImageResult(image=img, backend=self.name, honored=honored, ignored=ignored,
                           scene_graph={"box": list(box or ())})

    def generate(self, request: GenerationRequest) -> ImageResult:
        img = Image.new("RGB", (request.width, request.height), (200, 200, 200))
        ImageDraw.Draw(img).ellipse((10, 10, request.width - 10, request.height - 10), fill=(90, 90, 160))
        return ImageResult(image=img, backend=self.name, honored=[request.prompt])


class TextOnly(Backend):
    """A backend that cannot edit (chat only), to check the error the user sees."""

    engine = "tests.support.fake_backends:TextOnly"
    capabilities = frozenset({Capability.CHAT})


# -- a painter the reasoning tests slow down, gate and make fail by prompt ---------------------------
def _colour(text: str) -> tuple[int, int, int]:
    d = hashlib.sha256(text.encode()).digest()
    return d[0], d[1], d[2]


class PromptPainter(Backend):
    """Paints a colour derived from the prompt; waits ``delay`` seconds (or per-prompt ``delays``).

    A prompt containing "FAIL" raises a BackendError, one containing "HANG" sleeps until cancelled,
    one containing "GATED" waits until the test sets ``gate``.
    """

    engine = "tests.support.fake_backends:PromptPainter"
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


# -- a small painter synthesis batches and evaluation runs use (slowed by TINY_PAINTER_DELAY) --------
class TinyPainter(Backend):
    """Draws a small image whose color depends on the prompt; edits tint the input.

    ``delay`` (seconds per call) slows it down so a test can kill a batch mid-way; ``fail_word`` makes
    any prompt containing that word fail like a remote error would. ``steps_asked`` records each call's
    ``steps``.
    """

    engine = "tests.support.fake_backends:TinyPainter"
    capabilities = frozenset({Capability.TEXT_TO_IMAGE, Capability.EDIT})

    def __init__(self, name: str, delay: float = 0.0, fail_word: str = "", **options) -> None:
        super().__init__(name, **options)
        self.delay = float(os.environ.get("TINY_PAINTER_DELAY", delay))
        self.fail_word = fail_word
        self.steps_asked: list[int | None] = []

    def _check(self, text: str, steps: int | None = None) -> None:
        self.steps_asked.append(steps)
        if self.delay:
            time.sleep(self.delay)
        if self.fail_word and self.fail_word in text:
            raise BackendError(self.name, f"refused a prompt containing {self.fail_word!r}", "change the prompt")

    def generate(self, request: GenerationRequest) -> ImageResult:
        self._check(request.prompt, request.steps)
        h = sum(request.prompt.encode()) + request.seed
        img = Image.new("RGB", (32, 32), (h % 256, (h // 7) % 256, (h // 13) % 256))
        ImageDraw.Draw(img).text((2, 2), str(len(request.prompt)), fill="white")
        return ImageResult(image=img, backend=self.name)

    def edit(self, request: EditRequest) -> ImageResult:
        self._check(request.instruction, request.steps)
        img = request.image.copy().convert("RGB")
        ImageDraw.Draw(img).rectangle((0, 0, 8, 8), fill=(len(request.instruction) % 256, 10, 200))
        return ImageResult(image=img, backend=self.name)
