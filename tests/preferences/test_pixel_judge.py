"""The pixel judge reads the requested colour and shape off the pixels."""
from __future__ import annotations

import pytest
from PIL import Image, ImageDraw

from backends.procedural.lexicon import COLORS
from studio.preferences.pixel_judge import PixelJudge


def _draw(shape: str, rgb, size: int = 32) -> Image.Image:
    img = Image.new("RGB", (size, size), (235, 235, 240))
    d = ImageDraw.Draw(img)
    box = (6, 6, 26, 26)
    if shape == "circle":
        d.ellipse(box, fill=rgb)
    elif shape == "square":
        d.rectangle(box, fill=rgb)
    else:
        d.polygon([(16, 6), (26, 26), (6, 26)], fill=rgb)
    return img


@pytest.fixture
def judge():
    return PixelJudge.from_references({s: _draw(s, (128, 128, 128)) for s in ("circle", "square", "triangle")})


def test_the_requested_colour_wins(judge):
    red, blue = _draw("circle", COLORS["red"]), _draw("circle", COLORS["blue"])
    assert judge.compare(red, blue, "a red circle") == "a"
    assert judge.compare(red, blue, "a blue circle") == "b"
    assert judge.compare(red, red, "a red circle") == "tie"


def test_the_requested_shape_wins(judge):
    circle, square = _draw("circle", COLORS["red"]), _draw("square", COLORS["red"])
    assert judge.compare(circle, square, "a red circle") == "a"
    assert judge.compare(circle, square, "a red square") == "b"


def test_an_empty_image_loses_and_unknown_prompts_are_refused(judge):
    empty = Image.new("RGB", (32, 32), (235, 235, 240))
    assert judge.compare(empty, _draw("triangle", COLORS["green"]), "a green triangle") == "b"
    with pytest.raises(ValueError, match="no known shape"):
        judge.score(empty, "a red cat")
