"""OmniGen2 on a tiny random pipeline in the published layout: T2I, edit, in-context, guidance, loading errors."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from backends.base import BackendError, BackendLoadError, Capability, EditRequest, GenerationRequest
from backends.model_cache import ModelCache
from backends.omnigen2.engine import OmniGen2Backend
from backends.registry import BackendRegistry, parse_backends_config


@pytest.fixture(scope="module")
def tiny_omnigen2(tmp_path_factory):
    from tests.support.tiny_omnigen2 import build_tiny_omnigen2

    return build_tiny_omnigen2(tmp_path_factory.mktemp("omnigen2") / "OmniGen2")


@pytest.fixture(scope="module")
def cache():
    c = ModelCache(budget_bytes=2**30)
    yield c
    c.clear()


@pytest.fixture(scope="module")
def backend(tiny_omnigen2, cache):
    from backends.omnigen2.engine import OmniGen2Backend

    return OmniGen2Backend("omnigen2", model=str(tiny_omnigen2), device="cpu", cache=cache)


@pytest.fixture(scope="module")
def pipe(backend):
    return backend.entry().value


def source(color=(240, 120, 20), size=(70, 50)):
    img = Image.new("RGB", size, color)
    img.paste((20, 40, 200), (10, 10, 30, 30))
    return img


def pixels(result):
    return np.asarray(result.image, dtype=np.int16)


# -- through the studio backend -----------------------------------------------------------
def test_registry_builds_the_engine_with_its_capabilities(tiny_omnigen2):
    entries = parse_backends_config({"backends": {"og2": {"engine": "omnigen2",
                                                           "options": {"model": str(tiny_omnigen2)}}}})
    assert entries["og2"].capabilities == OmniGen2Backend.capabilities
    assert {Capability.TEXT_TO_IMAGE, Capability.EDIT} <= entries["og2"].capabilities
    registry = BackendRegistry(entries)
    assert [e.name for e in registry.by_capability("edit")] == ["og2"]
    assert registry.get("og2").engine == "omnigen2"


def test_text_to_image_is_deterministic_by_seed(backend):
    seen = []
    req = dict(prompt="a red cube on a table", width=64, height=48, steps=2)
    first = backend.generate(GenerationRequest(seed=3, progress=lambda s, n: seen.append((s, n)), **req))
    again = backend.generate(GenerationRequest(seed=3, **req))
    other = backend.generate(GenerationRequest(seed=4, **req))
    assert first.image.size == (64, 48)
    assert np.array_equal(pixels(first), pixels(again))
    assert not np.array_equal(pixels(first), pixels(other))
    assert seen[-1] == (2, 2)
    assert first.metadata["text_guidance_scale"] == 5.0 and first.metadata["input_images"] == 0


def test_edit_returns_the_source_size_and_repeats_by_seed(backend):
    req = dict(image=source(), instruction="make the square green", steps=2, seed=5)
    first, again = backend.edit(EditRequest(**req)), backend.edit(EditRequest(**req))
    assert first.image.size == (70, 50)
    assert np.array_equal(pixels(first), pixels(again))
    assert first.metadata["input_images"] == 1 and first.metadata["image_guidance_scale"] == 2.0
    assert any("resized to 70x50" in n for n in first.notices)  # rendered at multiples of 16 (64x48)


@pytest.mark.parametrize("n_refs", [1, 2])
def test_in_context_with_reference_images(backend, n_refs):
    refs = [source((30, 160, 60), (48, 64)), source((240, 240, 20), (80, 40))][:n_refs]
    req = dict(image=source(), instruction="the person from image 2 holds the object from image 1",
               steps=2, seed=1)
    with_refs = backend.edit(EditRequest(reference_images=refs, **req))
    alone = backend.edit(EditRequest(**req))
    assert with_refs.image.size == (70, 50)
    assert with_refs.metadata["input_images"] == 1 + n_refs
    assert not np.array_equal(pixels(with_refs), pixels(alone))


def test_more_than_three_input_images_is_refused_before_loading(tiny_omnigen2):
    from backends.omnigen2.engine import OmniGen2Backend

    fresh = OmniGen2Backend("og2", model=str(tiny_omnigen2), device="cpu", cache=ModelCache(budget_bytes=0))
    with pytest.raises(BackendError, match="at most 3 input images") as err:
        fresh.edit(EditRequest(image=source(), instruction="x", reference_images=[source()] * 3))
    assert "keep at most 2 reference images" in str(err.value)
    assert fresh.cache.loads == 0


def test_mask_keeps_the_outside(backend):
    mask = Image.new("L", (70, 50), 0)
    mask.paste(255, (0, 0, 35, 50))
    result = backend.edit(EditRequest(image=source(), instruction="recolor", mask=mask, steps=2))
    assert tuple(result.image.getpixel((65, 45))) == (240, 120, 20)
    assert any("blended" in n for n in result.notices)


def test_bad_cfg_range_and_unknown_params_are_reported(backend):
    with pytest.raises(BackendError, match="cfg_range"):
        backend.generate(GenerationRequest(prompt="x", width=32, height=32, steps=1, params={"cfg_range": [0.8, 0.2]}))
    result = backend.generate(GenerationRequest(prompt="x", width=32, height=32, steps=1, params={"eta": 1}))
    assert any("'eta' ignored" in n for n in result.notices)


def test_requests_may_lower_but_not_raise_the_pixel_budget(backend):
    req = dict(image=source(size=(128, 96)), instruction="x", steps=1)
    capped = backend.edit(EditRequest(params={"max_pixels": 64 * 48}, **req))
    assert any("rendered 64x48" in n for n in capped.notices)
    raised = backend.edit(EditRequest(params={"max_pixels": 10**9}, **req))
    assert not any("rendered" in n for n in raised.notices)  # 128x96 fits the configured 1024x1024 as it is


def test_cancel_stops_between_steps(backend):
    import threading

    from backends.base import Cancelled

    cancel = threading.Event()
    seen = []

    def progress(step, total):
        seen.append(step)
        if step == 1:
            cancel.set()

    with pytest.raises(Cancelled):
        backend.generate(GenerationRequest(prompt="x", width=32, height=32, steps=4, progress=progress, cancel=cancel))
    assert max(seen) == 1


# -- dual guidance ----------------------------------------------------------------------------
def run(pipe, steps=3, **kw):
    import torch

    args = dict(prompt="make the square green", input_images=[source()], num_inference_steps=steps,
                negative_prompt="blurry", output_type="np")
    args.update(kw)
    out = pipe(generator=torch.Generator().manual_seed(0), image_generator=torch.Generator().manual_seed(0), **args)
    return out.images[0], pipe.transformer_calls


def test_unit_scales_reduce_to_the_conditional_prediction(pipe):
    import torch

    from backends.omnigen2.pipeline import guide

    cond, no_text, uncond = (torch.randn(1, 4, 6, 8) for _ in range(3))
    assert torch.equal(guide(cond, no_text, uncond, 1.0, 1.0), cond)
    plain, calls = run(pipe, text_guidance_scale=1.0, image_guidance_scale=1.0)
    assert calls == 3  # one conditional pass per step, nothing else
    guided, guided_calls = run(pipe, text_guidance_scale=5.0, image_guidance_scale=2.0)
    assert guided_calls == 9 and not np.allclose(plain, guided)
    # just above 1 the dual formula runs all three passes and lands next to the conditional result
    near, _ = run(pipe, text_guidance_scale=1.0 + 1e-6, image_guidance_scale=1.0 + 1e-6)
    assert np.abs(near - plain).max() < 1e-4


def test_cfg_range_outside_the_step_disables_guidance(pipe):
    plain, _ = run(pipe, text_guidance_scale=1.0, image_guidance_scale=1.0)
    outside, calls = run(pipe, text_guidance_scale=5.0, image_guidance_scale=2.0, cfg_range=(0.9, 1.0))
    assert calls == 3 and np.array_equal(plain, outside)  # steps at 0, 1/3, 2/3: none inside
    _, partial_calls = run(pipe, steps=4, text_guidance_scale=5.0, image_guidance_scale=2.0, cfg_range=(0.0, 0.5))
    assert partial_calls == 3 * 3 + 1  # steps at 0, 1/4, 2/4 guided (three passes), 3/4 not
    _, text_only = run(pipe, input_images=[], width=32, height=32, text_guidance_scale=5.0, image_guidance_scale=2.0)
    assert text_only == 2 * 3  # no input images: image guidance is off, text guidance runs two passes


# -- loading --------------------------------------------------------------------------------------
def broken_copy(tiny_omnigen2, tmp_path, edit):
    folder = tmp_path / "broken"
    shutil.copytree(tiny_omnigen2, folder)
    edit(folder)
    return folder


def load_error(folder) -> str:
    from backends.omnigen2.engine import OmniGen2Backend

    backend = OmniGen2Backend("og2", model=str(folder), device="cpu", cache=ModelCache(budget_bytes=2**30))
    with pytest.raises(BackendLoadError) as err:
        backend.generate(GenerationRequest(prompt="x", width=32, height=32, steps=1))
    return str(err.value)


def test_sharded_transformer_weights_load(tiny_omnigen2, tmp_path, backend):
    from safetensors.torch import load_file, save_file

    from backends.omnigen2.engine import OmniGen2Backend

    def shard(folder):
        path = folder / "transformer" / "diffusion_pytorch_model.safetensors"
        state = load_file(str(path))
        path.unlink()
        names = sorted(state)
        halves = {"diffusion_pytorch_model-00001-of-00002.safetensors": names[: len(names) // 2],
                  "diffusion_pytorch_model-00002-of-00002.safetensors": names[len(names) // 2:]}
        for file, keys in halves.items():
            save_file({k: state[k] for k in keys}, str(folder / "transformer" / file))
        (folder / "transformer" / "diffusion_pytorch_model.safetensors.index.json").write_text(json.dumps(
            {"metadata": {}, "weight_map": {k: file for file, keys in halves.items() for k in keys}}))

    sharded = OmniGen2Backend("og2-sharded", model=str(broken_copy(tiny_omnigen2, tmp_path, shard)), device="cpu",
                              cache=ModelCache(budget_bytes=2**30))
    req = dict(prompt="a red cube", width=32, height=32, steps=1, seed=2)
    assert np.array_equal(pixels(sharded.generate(GenerationRequest(**req))),
                          pixels(backend.generate(GenerationRequest(**req))))


def test_renamed_or_missing_tensors_name_the_mismatch(tiny_omnigen2, tmp_path):
    from safetensors.torch import load_file, save_file

    def rename(folder):
        path = folder / "transformer" / "diffusion_pytorch_model.safetensors"
        state = load_file(str(path))
        state["x_embedder.weight_renamed"] = state.pop("x_embedder.weight")
        del state["layers.1.attn.to_q.weight"]
        save_file(state, str(path))

    message = load_error(broken_copy(tiny_omnigen2, tmp_path, rename))
    assert "do not match an OmniGen2 transformer" in message
    assert "2 missing: layers.1.attn.to_q.weight, x_embedder.weight" in message
    assert "1 unexpected: x_embedder.weight_renamed" in message


def test_weights_for_another_config_name_the_wrong_shapes(tiny_omnigen2, tmp_path):
    def widen(folder):
        path = folder / "transformer" / "config.json"
        config = json.loads(path.read_text())
        config.update(hidden_size=64, num_attention_heads=8)
        path.write_text(json.dumps(config))

    assert "wrong shape" in load_error(broken_copy(tiny_omnigen2, tmp_path, widen))


def test_missing_weights_and_foreign_folders_say_what_to_do(tiny_omnigen2, tmp_path):
    no_weights = broken_copy(tiny_omnigen2, tmp_path, lambda f: (
        f / "transformer" / "diffusion_pytorch_model.safetensors").unlink())
    message = load_error(no_weights)
    assert "not found" in message and "no .safetensors weights" in message

    other = tmp_path / "other"
    shutil.copytree(tiny_omnigen2, other)
    (other / "model_index.json").write_text(json.dumps({"_class_name": "FluxPipeline"}))
    message = load_error(other)
    assert "is not an OmniGen2 pipeline" in message and "model_index.json" in message


# -- the diffusers engines hand an OmniGen2 folder over -----------------------------------------------
def test_diffusers_engines_route_an_omnigen2_folder(tiny_omnigen2, cache):
    from backends.diffusers_edit import DiffusersEdit
    from backends.diffusers_engine import DiffusersText2Image

    edit = DiffusersEdit("og2-edit", model=str(tiny_omnigen2), device="cpu", cache=cache)
    t2i = DiffusersText2Image("og2-t2i", model=str(tiny_omnigen2), device="cpu", cache=cache)
    assert edit.engine == t2i.engine == "omnigen2"
    result = edit.edit(EditRequest(image=source(), instruction="make it blue", steps=1))
    assert result.image.size == (70, 50) and result.metadata["pipeline"] == "OmniGen2Pipeline"
    registry = BackendRegistry(parse_backends_config({"backends": {"og2": {
        "engine": "diffusers-edit", "options": {"model": str(tiny_omnigen2), "device": "cpu"}}}}))
    assert registry.get("og2").engine == "omnigen2"


# -- in the studio's editing chat -------------------------------------------------------------------------
def test_an_editing_chat_turn_with_a_reference_runs_on_omnigen2(tiny_omnigen2, data_dir):
    from studio import editing
    from studio.core import Studio
    from studio.settings import load_settings
    from tests.editing.conftest import picture, png_bytes

    config = data_dir / "backends.yaml"
    config.write_text("backends:\n  og2:\n    engine: omnigen2\n    label: OmniGen2 (tiny)\n    options: "
                      + json.dumps({"model": str(tiny_omnigen2), "device": "cpu", "steps": 1}) + "\n")
    studio = Studio(load_settings(data_dir=data_dir, backends_config=config))
    try:
        view, _ = editing.start_from_upload(studio, "ann", png_bytes(picture()), name="pic.png")
        out = editing.submit_turn(studio, "ann", view.id, "give the circle the colour of image 2", "og2",
                                  shown=None, references=[source()])
        assert out.turn.status == "done", out.turn.error
        assert studio.images.open(out.turn.output_image).size == (96, 64)
    finally:
        studio.close()
