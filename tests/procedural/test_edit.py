"""Editing: the scene graph changes exactly as asked and nothing else moves; photos get global ops only."""
from __future__ import annotations

import copy
import io

import numpy as np
import pytest
from PIL import Image

from backends.base import BackendError, EditRequest, UnsupportedOperation
from studio.images import encode_png, load_image
from tests.procedural.conftest import boxes, center, edit, generate, region


@pytest.fixture()
def base(engine):
    """A red car, a dog, a bench and a sign saying OPEN."""
    res = generate(engine, 'a red car, a dog, a bench and a sign that says "OPEN"', seed=4, size=384)
    return res


def untouched(before, after, changed_classes):
    """Every object whose class is not in changed_classes keeps id, box, color and z."""
    keep = lambda sg: {o["id"]: (o["bbox"], o["color"], o["z"]) for o in sg["objects"] if o["class"] not in changed_classes}  # noqa: E731
    assert keep(before) == keep(after)


def test_recolor_changes_only_that_object(engine, base):
    res = edit(engine, base.image, "make the car blue")
    assert res.honored == ["make the car blue"] and res.ignored == []
    (car,) = [o for o in res.scene_graph["objects"] if o["class"] == "car"]
    assert car["color"] == "blue" and car["bbox"] == boxes(base.scene_graph, "car")[0]
    untouched(base.scene_graph, res.scene_graph, {"car"})
    blue = region(res.image, car["bbox"])
    assert ((blue[..., 2] > 150) & (blue[..., 0] < 100)).mean() > 0.2


def test_remove_add_replace(engine, base):
    res = edit(engine, base.image, "remove the dog")
    assert boxes(res.scene_graph, "dog") == []
    untouched(base.scene_graph, res.scene_graph, {"dog"})
    res = edit(engine, base.image, "add two yellow balls")
    balls = [o for o in res.scene_graph["objects"] if o["class"] == "sports ball"]
    assert len(balls) == 2 and all(b["color"] == "yellow" for b in balls)
    untouched(base.scene_graph, res.scene_graph, {"sports ball"})
    res = edit(engine, base.image, "replace the dog with a giraffe")
    assert boxes(res.scene_graph, "dog") == [] and len(boxes(res.scene_graph, "giraffe")) == 1
    assert boxes(res.scene_graph, "giraffe")[0][3] == boxes(base.scene_graph, "dog")[0][3]  # stands where the dog stood
    untouched(base.scene_graph, res.scene_graph, {"dog", "giraffe"})


def test_add_relative_and_move(engine, base):
    res = edit(engine, base.image, "add a cat above the car")
    (cat,), (car,) = boxes(res.scene_graph, "cat"), boxes(res.scene_graph, "car")
    assert center(cat)[1] < center(car)[1]
    res = edit(engine, base.image, "move the dog to the top left corner")
    (dog,) = boxes(res.scene_graph, "dog")
    assert center(dog)[0] < 384 * 0.35 and center(dog)[1] < 384 * 0.35
    untouched(base.scene_graph, res.scene_graph, {"dog"})
    res = edit(engine, base.image, "move the dog left of the car")
    assert center(boxes(res.scene_graph, "dog")[0])[0] < center(boxes(res.scene_graph, "car")[0])[0]


def test_resize(engine, base):
    res = edit(engine, base.image, "make the dog bigger")
    (old,), (new,) = boxes(base.scene_graph, "dog"), boxes(res.scene_graph, "dog")
    assert (new[2] - new[0]) > (old[2] - old[0]) * 1.2
    untouched(base.scene_graph, res.scene_graph, {"dog"})


def test_text_replace_alter_remove(engine, base):
    res = edit(engine, base.image, "change the text 'OPEN' to 'CLOSED'")
    assert [t["text"] for t in res.scene_graph["texts"]] == ["CLOSED"]
    assert res.scene_graph["texts"][0]["bbox"] == base.scene_graph["texts"][0]["bbox"]
    res2 = edit(engine, res.image, "make the text red and italic")
    (t,) = res2.scene_graph["texts"]
    assert t["color"] == "red" and t["style"] == "italic"
    res3 = edit(engine, res2.image, "remove the text")
    assert res3.scene_graph["texts"] == []
    untouched(base.scene_graph, res3.scene_graph, set())


def test_add_text_on_a_carrier(engine, base):
    res = edit(engine, base.image, "remove the text then write 'SALE' on the sign")
    (t,) = res.scene_graph["texts"]
    (sign,) = boxes(res.scene_graph, "sign")
    assert t["text"] == "SALE" and sign[0] <= center(t["bbox"])[0] <= sign[2]


def test_background_style_and_complex_order(engine, base):
    res = edit(engine, base.image, "change the background to a beach, make it night and then make it pixel art")
    sg = res.scene_graph
    assert (sg["background"]["setting"], sg["background"]["time"], sg["style"]) == ("beach", "night", ["pixel-art"])
    assert len(res.honored) == 3
    untouched(base.scene_graph, sg, set())
    res = edit(engine, base.image, "make the car green then make it purple")  # applied in order: last wins
    assert [o["color"] for o in res.scene_graph["objects"] if o["class"] == "car"] == ["purple"]


def test_extract_on_transparent_and_plain(engine, base):
    res = edit(engine, base.image, "extract the car on a transparent background")
    assert res.image.mode == "RGBA" and [o["class"] for o in res.scene_graph["objects"]] == ["car"]
    alpha = np.asarray(res.image.getchannel("A"))
    (car,) = boxes(res.scene_graph, "car")
    assert alpha[: int(car[1]) - 2].max() == 0 and alpha.max() == 255
    res = edit(engine, base.image, "isolate the dog")
    assert res.image.mode == "RGB" and [o["class"] for o in res.scene_graph["objects"]] == ["dog"]


def test_partial_application_reports_missing_objects(engine, base):
    res = edit(engine, base.image, "remove the giraffe and make the dog black")
    assert res.honored == ["make the dog black"]
    assert any("no giraffe" in s and "it has" in s for s in res.ignored)


def test_nothing_applicable_raises_a_clear_error(engine, base):
    with pytest.raises(BackendError, match="no giraffe"):
        edit(engine, base.image, "remove the giraffe")
    with pytest.raises(BackendError, match="empty"):
        edit(engine, base.image, "   ")


def test_edits_survive_the_png_round_trip_and_chain(engine, base):
    img = load_image(io.BytesIO(encode_png(base.image, {"scene_graph": base.scene_graph})))
    res = edit(engine, img, "make the car blue")
    img2 = load_image(io.BytesIO(encode_png(res.image, {"scene_graph": res.scene_graph})))
    res2 = edit(engine, img2, "remove the bench")
    assert [h["instruction"] for h in res2.scene_graph["history"]] == ["make the car blue", "remove the bench"]
    assert [o["color"] for o in res2.scene_graph["objects"] if o["class"] == "car"] == ["blue"]


def test_scene_graph_can_be_passed_as_data(engine, base):
    plain = Image.new("RGB", base.image.size, "white")
    res = engine.edit(EditRequest(image=plain, instruction="remove the car", params={"scene_graph": base.scene_graph}))
    assert boxes(res.scene_graph, "car") == []
    with pytest.raises(BackendError, match="invalid"):
        engine.edit(EditRequest(image=plain, instruction="remove the car", params={"scene_graph": {"version": 9}}))


def test_crop_flip_rotate_on_a_scene_keep_boxes_consistent(engine, base):
    res = edit(engine, base.image, "crop the left half")
    assert res.image.size == (192, 384) and all(o["bbox"][0] < 192 for o in res.scene_graph["objects"])
    res = edit(engine, base.image, "flip horizontally")
    (old,), (new,) = boxes(base.scene_graph, "car"), boxes(res.scene_graph, "car")
    assert new[0] == pytest.approx(384 - old[2])
    res = edit(engine, base.image, "rotate 90 degrees")
    assert res.image.size == (384, 384) and res.scene_graph["objects"][0]["attributes"]["rotation"] == 90


@pytest.fixture()
def photo():
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8), "RGB")
    return load_image(io.BytesIO(encode_png(img)))


@pytest.mark.parametrize("instruction", [
    "make it sepia", "increase the brightness", "make it warmer", "add the text 'HELLO' at the bottom",
    "crop to square", "extend the canvas to the right", "flip vertically", "convert to line art",
])
def test_photo_global_operations_change_the_image(engine, photo, instruction):
    res = edit(engine, photo, instruction)
    assert res.honored and res.scene_graph is None and res.procedural
    same_size = res.image.size == photo.size
    assert not same_size or np.abs(np.asarray(res.image, int) - np.asarray(photo, int)).mean() > 1


@pytest.mark.parametrize("instruction", ["remove the cat", "make the car blue", "add a dog", "change the background to a beach", "move the cat left"])
def test_photo_object_edits_name_a_backend_that_can(engine, photo, instruction):
    with pytest.raises(UnsupportedOperation) as err:
        edit(engine, photo, instruction)
    assert "diffusers-edit" in str(err.value) and "scene graph" in str(err.value)


def test_photo_mixed_instruction_applies_global_part_and_reports_the_rest(engine, photo):
    res = edit(engine, photo, "remove the cat and make it sepia")
    assert res.honored == ["make it sepia"] and any("diffusers-edit" in s for s in res.ignored)


def test_edit_does_not_mutate_the_input(engine, base):
    before = copy.deepcopy(base.scene_graph)
    edit(engine, base.image, "remove the dog and make the car blue")
    assert base.scene_graph == before


@pytest.mark.parametrize("mutate", [
    lambda sg: sg["objects"][0].update(bbox=[0, 0, 1e9, 1e9]),
    lambda sg: sg["objects"][0].update(bbox="nope"),
    lambda sg: sg.update(width=-5),
    lambda sg: sg.update(objects=sg["objects"] * 200),
    lambda sg: sg["texts"][0].update(text="x" * 5000),
])
def test_hostile_scene_graph_chunks_are_treated_as_photos(engine, base, mutate):
    sg = copy.deepcopy(base.scene_graph)
    mutate(sg)
    img = base.image.copy()
    img.info["scene_graph"] = __import__("json").dumps(sg)
    res = edit(engine, img, "make it sepia")
    assert res.scene_graph is None and any("not a valid procedural scene" in n for n in res.notices)


@pytest.mark.parametrize("instruction, kind, args", [
    ("make the sky brighter", "adjust", {"what": "brightness", "value": 1.3}),
    ("make the grass darker", "adjust", {"what": "brightness", "value": 0.7}),
    ("in the style of Van Gogh", "style", {"styles": ["oil-paint"]}),
    ("make it look like a Van Gogh painting", "style", {"styles": ["oil-paint"]}),
])
def test_regions_and_painters_the_engine_supports_globally_are_understood(instruction, kind, args):
    from backends.procedural.edit_plan import plan_edit

    assert [(op.kind, op.args) for op in plan_edit(instruction)] == [(kind, args)]


def test_a_van_gogh_edit_changes_the_image(engine, base):
    out = edit(engine, base.image, "in the style of Van Gogh")
    assert out.honored == ["in the style of Van Gogh"] and out.ignored == []
    assert out.image.size == base.image.size and list(out.image.getdata()) != list(base.image.getdata())
