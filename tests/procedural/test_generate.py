"""Text to image: layout follows the prompt, pixels show it, outputs are deterministic."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from backends.procedural import text as textmod
from backends.procedural.lexicon import COCO_CLASSES, STYLE_NAMES, STYLES
from backends.procedural.styles import STYLE_FUNCTIONS
from studio.images import encode_png, load_image, read_png_json
from tests.procedural.conftest import boxes, center, generate, region


def color_fraction(pixels: np.ndarray, channel: str) -> float:
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    mask = {"red": (r > 150) & (g < 90) & (b < 90), "blue": (b > 150) & (r < 100) & (g < 140),
            "green": (g > 120) & (r < 100) & (b < 110)}[channel]
    return float(mask.mean())


@pytest.mark.parametrize("color,other", [("red", "blue"), ("blue", "red"), ("green", "red")])
def test_colored_car_region_has_that_color(engine, color, other):
    res = generate(engine, f"a photo of a {color} car")
    (box,) = boxes(res.scene_graph, "car")
    px = region(res.image, box)
    assert color_fraction(px, color) > 0.25
    assert color_fraction(px, other) < 0.05


def test_recolor_works_for_every_glyph_class(engine):
    for cls in list(COCO_CLASSES)[::4]:
        res = generate(engine, f"a blue {cls}", size=128)
        (box,) = boxes(res.scene_graph, cls)
        assert color_fraction(region(res.image, box), "blue") > 0.05, cls


def _dark_mask(img: Image.Image, box) -> np.ndarray:
    return np.asarray(img.convert("L").crop(tuple(int(v) for v in box))) < 110


def test_quoted_text_is_drawn_where_the_scene_graph_says(engine):
    res = generate(engine, 'a poster with the words "OPEN 24/7" in bold')
    (element,) = res.scene_graph["texts"]
    assert element["text"] == "OPEN 24/7" and element["weight"] == "bold"
    alone = Image.new("RGB", res.image.size, "white")
    textmod.draw_text(alone, element, (20, 20, 20))
    a, b = _dark_mask(res.image, element["bbox"]), _dark_mask(alone, element["bbox"])
    assert b.sum() > 100
    assert (a & b).sum() / (a | b).sum() > 0.8


def test_text_alone_without_objects_fills_the_canvas(engine):
    res = generate(engine, '"Hello\\nWorld"')
    (element,) = res.scene_graph["texts"]
    assert element["lines"] == ["Hello", "World"] and element["font_size"] > 30


def test_non_latin_text_uses_a_covering_font_or_says_it_cannot(engine, monkeypatch):
    res = generate(engine, 'the word "Привет"')
    covered = textmod.choose_font("Привет", "sans", "normal", "normal")[3] == ""
    assert (res.scene_graph["texts"][0]["missing_glyphs"] == "") == covered  # Debian fonts-dejavu/-noto cover it
    assert covered or any("no installed font covers" in s for s in res.ignored)
    monkeypatch.setattr(textmod, "FONT_DIRS", [])
    for fn in (textmod.find_font_file, textmod.covers, textmod._notdef):
        fn.cache_clear()
    try:
        res = generate(engine, 'a sign that says "你好"')
        assert any("no installed font covers" in s for s in res.ignored)
        assert any("fonts-noto" in n for n in res.notices)
    finally:
        monkeypatch.undo()
        for fn in (textmod.find_font_file, textmod.covers, textmod._notdef):
            fn.cache_clear()


@pytest.mark.parametrize("surface", ["left of", "right of", "above", "below"])
def test_position_relations_hold_in_boxes(engine, surface):
    for seed in range(3):
        sg = generate(engine, f"a photo of a dog {surface} a teddy bear", seed=seed).scene_graph
        (d,), (t,) = boxes(sg, "dog"), boxes(sg, "teddy bear")
        (dx, dy), (tx, ty) = center(d), center(t)
        assert {"left of": dx < tx, "right of": dx > tx, "above": dy < ty, "below": dy > ty}[surface]


def test_counting_gives_separate_instances(engine):
    sg = generate(engine, "a photo of seven apples").scene_graph
    bs = boxes(sg, "apple")
    assert len(bs) == 7 and len({o["id"] for o in sg["objects"]}) == 7
    for i, a in enumerate(bs):
        for b in bs[i + 1:]:
            assert min(a[2], b[2]) <= max(a[0], b[0]) + 1 or min(a[3], b[3]) <= max(a[1], b[1]) + 1


def test_inside_on_top_bigger(engine):
    sg = generate(engine, "an apple inside a bowl, a cat on top of a car, a big dog bigger than a horse").scene_graph
    (apple,), (bowl,) = boxes(sg, "apple"), boxes(sg, "bowl")
    ax, ay = center(apple)
    assert bowl[0] <= ax <= bowl[2] and bowl[1] <= ay <= bowl[3]
    (cat,), (car,) = boxes(sg, "cat"), boxes(sg, "car")
    assert center(cat)[1] < center(car)[1] and cat[3] > car[1] - 2
    (dog,), (horse,) = boxes(sg, "dog"), boxes(sg, "horse")
    area = lambda b: (b[2] - b[0]) * (b[3] - b[1])  # noqa: E731
    assert area(dog) > area(horse)
    z = {o["class"]: o["z"] for o in sg["objects"]}
    assert z["apple"] > z["bowl"] and z["cat"] > z["car"]


def test_long_chain_of_left_of_is_laid_out_in_order(engine):
    names = ["cat", "dog", "car", "bus", "apple", "cup", "book", "clock", "vase", "bird"]
    prompt = "a " + " left of a ".join(names)
    sg = generate(engine, prompt, size=512).scene_graph
    xs = [center(boxes(sg, n)[0])[0] for n in names]
    assert xs == sorted(xs)


def test_impossible_cycle_is_dropped_and_reported(engine):
    res = generate(engine, "a cat left of a dog. the dog left of the cat")
    assert len(res.scene_graph["relations"]) == 1
    assert any("impossible" in s for s in res.ignored)


def test_deterministic_for_prompt_seed_size(engine):
    a = generate(engine, "two red cats and a blue bench in a park at sunset", seed=5)
    b = generate(engine, "two red cats and a blue bench in a park at sunset", seed=5)
    assert encode_png(a.image, {"scene_graph": a.scene_graph}) == encode_png(b.image, {"scene_graph": b.scene_graph})
    layouts = {str([o["bbox"] for o in generate(engine, "a cat and a dog", seed=s).scene_graph["objects"]]) for s in range(6)}
    assert len(layouts) > 1


def test_scene_graph_travels_in_the_png(engine):
    res = generate(engine, "a red car")
    img = load_image(io.BytesIO(encode_png(res.image, {"scene_graph": res.scene_graph})))
    assert read_png_json(img, "scene_graph") == res.scene_graph
    assert res.procedural and res.scene_graph["objects"][0]["bbox"] == boxes(res.scene_graph, "car")[0]


@pytest.mark.parametrize("style", STYLE_NAMES)
def test_every_style_word_transforms_pixels(engine, style):
    assert style in STYLE_FUNCTIONS
    plain = generate(engine, "a red car", size=128).image
    phrase = next(k for k, v in STYLES.items() if v == style)
    styled = generate(engine, f"a red car, {phrase}", size=128)
    assert styled.scene_graph["style"] == [style]
    assert np.abs(np.asarray(plain, int) - np.asarray(styled.image, int)).mean() > 3


@pytest.mark.parametrize("setting", ["sky", "beach", "forest", "city", "room", "space", "snow", "desert", "ocean", "underwater", "park", "mountains"])
def test_settings_and_night_change_the_background(engine, setting):
    day = generate(engine, f"a cat in the {setting}", size=96)
    night = generate(engine, f"a cat in the {setting} at night", size=96)
    assert day.scene_graph["background"]["setting"] == setting
    assert night.scene_graph["background"]["time"] == "night"
    if setting != "space":  # space is dark by day too
        assert np.asarray(night.image).mean() < np.asarray(day.image).mean()


@pytest.mark.parametrize("prompt", ["", "   ", "zxqv blorp", "a", "\x00\ud800?", "🙂" * 50])
def test_prompts_without_content_give_a_background_and_a_note(engine, prompt):
    res = generate(engine, prompt, size=64)
    assert res.image.size == (64, 64) and res.scene_graph["objects"] == [] and res.notices


def test_huge_prompt_and_silly_sizes_are_bounded(engine):
    res = generate(engine, "a red car and a dog " * 6000, size=128)
    assert len(res.scene_graph["objects"]) <= 40 and len(res.scene_graph["prompt"]) <= 2000
    tiny = engine.generate(__import__("backends.base", fromlist=["GenerationRequest"]).GenerationRequest(prompt="a cat", width=0, height=99999))
    assert tiny.image.size == (8, 4096) and any("outside" in n for n in tiny.notices)
