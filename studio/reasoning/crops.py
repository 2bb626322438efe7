"""Crop boxes a reasoner points at in the input image (MM Reasoning (O)): parse, validate, clamp, cut.

A box is four numbers ``x1, y1, x2, y2``, optionally followed by a label. When all four lie in
[-1, 2] they are fractions of the width/height (a pixel box that small could never make a
snapshot, and a fraction slightly past 1 is a box reaching over the edge); otherwise pixels. Swapped corners are put
in order, boxes reaching past the edges are clamped, and a box that is left with (almost) no area
is rejected with a reason instead of producing an empty snapshot.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from PIL import Image

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)")
#: a snapshot smaller than this many pixels on a side says nothing; reject it
MIN_SIDE_PX = 4


@dataclass
class CropBox:
    """A validated box in pixels of the image it was checked against, with what was fixed."""

    x1: int = 0
    y1: int = 0
    x2: int = 0
    y2: int = 0
    label: str = ""
    notes: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error

    def as_list(self) -> list[int]:
        return [self.x1, self.y1, self.x2, self.y2]


def parse_box(body: str, width: int, height: int) -> CropBox:
    """Read ``x1, y1, x2, y2 [label]`` and fit it to a ``width``×``height`` image."""
    numbers = list(_NUMBER.finditer(body))
    if len(numbers) < 4:
        return CropBox(error=f"crop box {body!r} needs four numbers x1, y1, x2, y2")
    values = [float(m.group()) for m in numbers[:4]]
    label = body[numbers[3].end() :].strip(" ,;:|-—").strip()
    box = CropBox(label=label)
    if all(-1.0 <= v <= 2.0 for v in values):
        x1, y1, x2, y2 = values[0] * width, values[1] * height, values[2] * width, values[3] * height
    else:
        x1, y1, x2, y2 = values
    if x1 > x2 or y1 > y2:
        box.notes.append("corners were given in reverse order; swapped")
        x1, x2 = min(x1, x2), max(x1, x2)
        y1, y2 = min(y1, y2), max(y1, y2)
    cx1, cy1 = max(0.0, x1), max(0.0, y1)
    cx2, cy2 = min(float(width), x2), min(float(height), y2)
    if (cx1, cy1, cx2, cy2) != (x1, y1, x2, y2):
        box.notes.append(f"box reached outside the {width}×{height} image; clamped to its edges")
    box.x1, box.y1, box.x2, box.y2 = round(cx1), round(cy1), round(cx2), round(cy2)
    if box.x2 - box.x1 < MIN_SIDE_PX or box.y2 - box.y1 < MIN_SIDE_PX:
        box.error = (
            f"crop box {body.strip()!r} lies outside the {width}×{height} image or is too small "
            f"(under {MIN_SIDE_PX} px); no snapshot"
        )
    return box


def cut(image: Image.Image, box: CropBox) -> Image.Image:
    """The snapshot of ``image`` inside a valid ``box``."""
    if not box.ok:
        raise ValueError(box.error)
    return image.crop((box.x1, box.y1, box.x2, box.y2))
