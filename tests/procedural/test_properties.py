"""Property tests: rendering and editing never raise anything but the engine's own clear errors."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from backends.base import BackendError, EditRequest, GenerationRequest
from backends.procedural import ProceduralBackend
from backends.procedural.lexicon import COLORS, RELATIONS, SETTINGS, STYLES, build_class_index

ENGINE = ProceduralBackend(name="procedural")
WORDS = sorted(build_class_index()) + list(COLORS) + list(RELATIONS) + list(SETTINGS) + list(STYLES) + [
    "two", "ten", "12", "a", "the", "and", "then", ",", "'OPEN'", '"x"', "add", "remove", "make", "move", "replace",
    "with", "into", "to", "text", "background", "it", "bigger", "all", "left", "crop", "flip", "rotate", "extract",
]
prompts = st.one_of(st.text(max_size=200), st.lists(st.sampled_from(WORDS), max_size=25).map(" ".join))
BASE = ENGINE.generate(GenerationRequest(prompt='two red cats left of a dog and a sign saying "HI"', width=96, height=96))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prompt=prompts, seed=st.integers(-2**31, 2**31), w=st.integers(16, 96), h=st.integers(16, 96))
def test_generate_never_raises(prompt, seed, w, h):
    res = ENGINE.generate(GenerationRequest(prompt=prompt, seed=seed, width=w, height=h))
    assert res.image.size == (w, h)
    for obj in res.scene_graph["objects"]:
        x0, y0, x1, y1 = obj["bbox"]
        assert 0 <= x0 <= x1 <= w and 0 <= y0 <= y1 <= h


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instruction=prompts, seed=st.integers(0, 1000))
def test_edit_never_raises_unexplained(instruction, seed):
    try:
        res = ENGINE.edit(EditRequest(image=BASE.image, instruction=instruction, seed=seed))
    except BackendError as exc:
        assert exc.reason  # a defined outcome with a message for the user
        return
    assert res.honored and res.image.size[0] >= 8


@settings(max_examples=25, deadline=None)
@given(instruction=prompts)
def test_photo_edit_never_raises_unexplained(instruction):
    photo = BASE.image.copy()
    photo.info = {}
    try:
        res = ENGINE.edit(EditRequest(image=photo, instruction=instruction))
    except BackendError as exc:
        assert exc.fix or exc.reason
        return
    assert res.scene_graph is None and res.honored
