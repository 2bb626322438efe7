"""Crop boxes from a reasoner: fractions or pixels, swapped corners, clamping, rejection."""
from __future__ import annotations

from PIL import Image

from studio.reasoning.crops import cut, parse_box


def test_fractions_scale_to_pixels_and_keep_the_label():
    box = parse_box("0.25, 0.5, 0.75, 1.0; the person right of the boat", 400, 200)
    assert box.ok and box.as_list() == [100, 100, 300, 200]
    assert box.label == "the person right of the boat" and box.notes == []


def test_pixels_reaching_outside_are_clamped_with_a_note():
    box = parse_box("-20, 10, 450, 90", 400, 200)
    assert box.ok and box.as_list() == [0, 10, 400, 90]
    assert any("clamped" in n for n in box.notes)


def test_swapped_corners_are_put_in_order():
    box = parse_box("300, 150, 100, 50", 400, 200)
    assert box.ok and box.as_list() == [100, 50, 300, 150]
    assert any("swapped" in n for n in box.notes)


def test_box_outside_the_image_is_rejected():
    box = parse_box("500, 300, 600, 400", 400, 200)
    assert not box.ok and "outside" in box.error


def test_too_few_numbers_is_rejected():
    box = parse_box("the left half", 400, 200)
    assert not box.ok and "four numbers" in box.error


def test_cut_returns_the_region():
    img = Image.new("RGB", (40, 20), "white")
    img.paste((255, 0, 0), (10, 5, 20, 15))
    snap = cut(img, parse_box("10, 5, 20, 15", 40, 20))
    assert snap.size == (10, 10) and snap.getpixel((5, 5)) == (255, 0, 0)
