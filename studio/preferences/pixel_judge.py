"""A programmatic judge for "a <colour> <shape>" prompts: the requested colour and shape, measured on pixels.

It knows what the prompt asked for (the procedural engine's colour table and each shape's fill of its
bounding box, measured on the procedural engine's own drawings) and scores an image by how far its
foreground is from both. Two images are compared by score; a difference below ``margin`` is a tie.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from backends.procedural.lexicon import COLORS

#: a pixel belongs to the object when it is this far (RGB distance) from the background colour
FOREGROUND_DISTANCE = 60.0
#: an image whose object covers fewer pixels than this share has no object at all
MIN_OBJECT_SHARE = 0.02


def parse_prompt(prompt: str, shapes) -> tuple[str, str]:
    """(colour, shape) named by a prompt such as "a teal circle"; ValueError when it names neither."""
    words = prompt.lower().replace(",", " ").split()
    colour = next((w for w in words if w in COLORS), None)
    shape = next((w for w in words if w in shapes), None)
    if colour is None or shape is None:
        raise ValueError(f"the pixel judge reads prompts like 'a red circle'; {prompt!r} names "
                         f"{'no colour' if colour is None else 'no known shape'}")
    return colour, shape


@dataclass
class Measure:
    colour: tuple[float, float, float]
    fill: float
    share: float


def measure(image: Image.Image) -> Measure:
    """Median object colour, its fill of its bounding box, and its share of the image."""
    px = np.asarray(image.convert("RGB"), dtype=np.float32)
    border = np.concatenate([px[0], px[-1], px[:, 0], px[:, -1]])
    background = np.median(border, axis=0)
    mask = np.linalg.norm(px - background, axis=-1) > FOREGROUND_DISTANCE
    share = float(mask.mean())
    if not mask.any():
        return Measure(tuple(float(v) for v in background), 0.0, 0.0)
    ys, xs = np.nonzero(mask)
    box = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
    colour = np.median(px[mask], axis=0)
    return Measure(tuple(float(v) for v in colour), float(mask.sum() / box), share)


class PixelJudge:
    """Scores and compares images for "a <colour> <shape>" prompts."""

    def __init__(self, shape_fill: dict[str, float], margin: float = 0.02) -> None:
        self.shape_fill = dict(shape_fill)
        self.margin = margin

    @classmethod
    def from_references(cls, references: dict[str, Image.Image], margin: float = 0.02) -> "PixelJudge":
        """Expected fills measured on reference drawings, one per shape name."""
        return cls({shape: measure(img).fill for shape, img in references.items()}, margin)

    def errors(self, image: Image.Image, prompt: str) -> tuple[float, float]:
        """(colour error, shape error), each about 0..1; (1, 1) when the image shows no object."""
        colour, shape = parse_prompt(prompt, self.shape_fill)
        m = measure(image)
        if m.share < MIN_OBJECT_SHARE:
            return 1.0, 1.0
        want = np.asarray(COLORS[colour], dtype=np.float32)
        colour_err = float(np.linalg.norm(np.asarray(m.colour) - want) / 441.7)
        return colour_err, abs(m.fill - self.shape_fill[shape])

    def score(self, image: Image.Image, prompt: str) -> float:
        """Higher is better: minus (colour error + shape error)."""
        return -sum(self.errors(image, prompt))

    def compare(self, a: Image.Image, b: Image.Image, prompt: str) -> str:
        """"a", "b" or "tie" (scores closer than the margin)."""
        d = self.score(a, prompt) - self.score(b, prompt)
        if abs(d) < self.margin:
            return "tie"
        return "a" if d > 0 else "b"
