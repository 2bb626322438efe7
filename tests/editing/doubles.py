"""Test-double edit backends, plugged in through the backends config as custom engines."""
from __future__ import annotations

import hashlib
import time

from PIL import Image, ImageDraw

from backends.base import Backend, BackendError, Capability, EditRequest, GenerationRequest, ImageResult

COLORS = {"red": (220, 30, 30), "green": (30, 180, 60), "blue": (30, 60, 220), "yellow": (240, 220, 40)}


class BoxPainter(Backend):
    """Paints a box whose colour the instruction names; position from the instruction's hash.

    "fail" in an instruction raises a BackendError; "hang" waits for the cancel event.
    """

    engine = "tests-box-painter"
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

    engine = "tests-text-only"
    capabilities = frozenset({Capability.CHAT})
