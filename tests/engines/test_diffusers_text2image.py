"""diffusers text-to-image on tiny random pipelines saved to disk and loaded by path."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from backends.base import BackendLoadError, Cancelled, GenerationRequest
from backends.diffusers_engine import DiffusersText2Image
from backends.model_cache import ModelCache
from backends.registry import BackendRegistry, parse_backends_config


def pixels(img) -> np.ndarray:
    return np.asarray(img, dtype=np.float64)


@pytest.fixture(scope="module")
def cache():
    c = ModelCache(budget_bytes=2**30)  # shared by the module's tests: each tiny pipeline loads once
    yield c
    c.clear()


def req(**kw) -> GenerationRequest:
    kw.setdefault("width", 64)
    kw.setdefault("height", 64)
    kw.setdefault("steps", 2)
    return GenerationRequest(kw.pop("prompt", "a red cube on a table"), **kw)


def test_sd_generates_by_path_with_progress_and_seed(tiny_sd, cache):
    backend = DiffusersText2Image("sd", model=str(tiny_sd), cache=cache)
    seen = []
    first = backend.generate(req(seed=1, progress=lambda s, n: seen.append((s, n))))
    loads = cache.loads
    assert first.image.size == (64, 64) and first.backend == "sd"
    assert seen == [(0, 2), (1, 2), (2, 2)]
    meta = first.metadata
    assert meta["pipeline"] == "StableDiffusionPipeline" and meta["steps"] == 2 and meta["device"] == "cpu"
    again = backend.generate(req(seed=1))
    other = backend.generate(req(seed=2))
    assert np.array_equal(pixels(first.image), pixels(again.image))
    assert not np.array_equal(pixels(first.image), pixels(other.image))
    negative = backend.generate(req(seed=1, negative_prompt="blurry", guidance_scale=7.0))
    plain = backend.generate(req(seed=1, guidance_scale=7.0))
    assert not np.array_equal(pixels(negative.image), pixels(plain.image))
    assert cache.loads == loads  # one pipeline for all calls


def test_size_is_rounded_and_resized_back(tiny_sd, cache):
    result = DiffusersText2Image("sd", model=str(tiny_sd), cache=cache).generate(req(width=70, height=50))
    assert result.image.size == (70, 50)
    assert result.metadata["size"] == [64, 48]
    assert any("rendered at 64x48" in n for n in result.notices)


def test_unknown_params_are_reported_not_dropped(tiny_sd, cache):
    result = DiffusersText2Image("sd", model=str(tiny_sd), cache=cache).generate(
        req(params={"eta": 0.0, "sharpness": 3}))
    assert result.notices == ["parameter 'sharpness' ignored: StableDiffusionPipeline does not take it"]


def test_cpu_offload_without_gpu_is_reported(tiny_sd, cache):
    backend = DiffusersText2Image("sd-offload", model=str(tiny_sd), cache=cache, cpu_offload=True,
                                  attention_slicing=True, device="cpu")
    result = backend.generate(req())
    assert result.notices == ["cpu_offload ignored: the pipeline runs on cpu, not a GPU"]


def test_scheduler_choice(tiny_sd, cache):
    backend = DiffusersText2Image("sd", model=str(tiny_sd), cache=cache, scheduler="euler")
    assert backend.generate(req()).metadata["scheduler"] == "EulerDiscreteScheduler"
    assert backend.generate(req(params={"scheduler": "dpm++"})).metadata["scheduler"] == "DPMSolverMultistepScheduler"
    with pytest.raises(BackendLoadError, match="unknown scheduler 'warp-drive'"):
        DiffusersText2Image("bad", model=str(tiny_sd), cache=cache, scheduler="warp-drive").generate(req())


def test_lora_adapter_changes_output_and_shares_the_base(tiny_sd, tiny_sd_lora, cache):
    base = DiffusersText2Image("sd", model=str(tiny_sd), cache=cache)
    tuned = DiffusersText2Image("sd+lora", model=str(tiny_sd), cache=cache,
                                loras=[{"path": str(tiny_sd_lora), "scale": 1.0}])
    muted = DiffusersText2Image("sd+lora0", model=str(tiny_sd), cache=cache,
                                loras=[{"path": str(tiny_sd_lora), "scale": 0.0}])
    plain = pixels(base.generate(req()).image)
    loads = cache.loads
    with_lora = tuned.generate(req())
    assert np.abs(plain - pixels(with_lora.image)).mean() > 1.0
    assert with_lora.metadata["loras"] == [{"path": str(tiny_sd_lora), "scale": 1.0}]
    assert np.allclose(plain, pixels(muted.generate(req()).image), atol=1)
    assert np.array_equal(plain, pixels(base.generate(req()).image))  # adapters switched off again
    assert cache.loads == loads  # three variants, one pipeline


def test_lora_file_path_and_missing_lora(tiny_sd, tiny_sd_lora, cache):
    weights = next(tiny_sd_lora.glob("*.safetensors"))
    backend = DiffusersText2Image("sd+file", model=str(tiny_sd), cache=cache, loras=[{"path": str(weights)}])
    assert backend.generate(req()).image.size == (64, 64)
    with pytest.raises(BackendLoadError, match="LoRA adapter not found"):
        DiffusersText2Image("x", model=str(tiny_sd), loras=[{"path": "/no/such/adapter"}])


def test_cancel_between_steps(tiny_sd, cache):
    backend = DiffusersText2Image("sd", model=str(tiny_sd), cache=cache)
    cancel = threading.Event()
    seen = []

    def progress(step, total):
        seen.append(step)
        if step == 1:
            cancel.set()

    with pytest.raises(Cancelled):
        backend.generate(req(steps=5, progress=progress, cancel=cancel))
    assert seen == [0, 1]
    assert backend.generate(req()).image.size == (64, 64)  # the pipeline is still usable


def test_missing_weights_and_missing_gpu_are_load_errors(tmp_path, tiny_sd, cache):
    with pytest.raises(BackendLoadError) as info:
        DiffusersText2Image("ghost", model=str(tmp_path / "nothing-here"), cache=cache).generate(req())
    assert "not found" in info.value.reason and "local folder" in info.value.fix
    with pytest.raises(BackendLoadError, match="no CUDA GPU") as info:
        DiffusersText2Image("gpu-only", model=str(tiny_sd), device="cuda", cache=cache).generate(req())
    assert "device: cpu" in info.value.fix


def test_flow_matching_flux_by_path(tiny_flux, cache):
    backend = DiffusersText2Image("flux", model=str(tiny_flux), cache=cache)
    result = backend.generate(req(guidance_scale=3.5, params={"max_sequence_length": 32}))
    assert result.image.size == (64, 64)
    assert result.metadata["pipeline"] == "FluxPipeline"
    assert result.metadata["scheduler"] == "FlowMatchEulerDiscreteScheduler"


def test_registry_entry_loads_lazily(tiny_sd):
    registry = BackendRegistry(parse_backends_config({"backends": {
        "tiny-sd": {"engine": "diffusers-text2image", "options": {"model": str(tiny_sd), "steps": 2}},
    }}))
    backend = registry.get("tiny-sd")
    assert backend.generate(GenerationRequest("a cube", width=64, height=64)).metadata["steps"] == 2
    registry.close()


def _count_denoiser_calls(backend):
    """Counts forward passes of the loaded pipeline's transformer/UNet (two per step under CFG)."""
    pipe = backend.entry().value
    denoiser = getattr(pipe, "transformer", None) or pipe.unet
    calls = []
    denoiser.register_forward_hook(lambda *_: calls.append(1))
    return calls


def test_qwen_image_runs_true_cfg_without_a_negative_prompt(tiny_qwen_image, cache):
    backend = DiffusersText2Image("qwen", model=str(tiny_qwen_image), cache=cache)
    calls = _count_denoiser_calls(backend)
    result = backend.generate(req(width=32, height=32))
    meta = result.metadata
    assert meta["family"] == "qwen-image" and meta["guidance_arg"] == "true_cfg_scale"
    assert meta["guidance_scale"] == 4.0 and len(calls) == 4  # conditional + unconditional per step
    calls.clear()
    backend.generate(req(width=32, height=32, guidance_scale=1.0))  # the request's scale is honoured
    assert len(calls) == 2


def test_flux_schnell_defaults_to_four_steps_without_guidance(tiny_flux, cache):
    backend = DiffusersText2Image("schnell", model=str(tiny_flux), cache=cache)
    meta = backend.generate(req(steps=None, width=32, height=32)).metadata
    assert (meta["family"], meta["steps"], meta["guidance_scale"]) == ("flux-schnell", 4, 0.0)


def test_flux_dev_and_unet_families_take_their_model_card_defaults(tiny_flux_dev, tiny_sd, tiny_sdxl, cache):
    from backends.diffusers_engine import text_family

    expected = {tiny_flux_dev: ("flux-dev", 28, 3.5), tiny_sd: ("sd", 50, 7.5), tiny_sdxl: ("sdxl", 50, 5.0)}
    for folder, (key, steps, guidance) in expected.items():
        backend = DiffusersText2Image(key, model=str(folder), cache=cache)
        fam = text_family(backend.entry().value)
        assert (fam.key, fam.steps, fam.cfg) == (key, steps, guidance)
        meta = backend.generate(req(steps=1, width=64, height=64)).metadata
        assert meta["guidance_scale"] == guidance and meta["family"] == key


def test_options_override_the_family_defaults(tiny_flux_dev, cache):
    backend = DiffusersText2Image("dev", model=str(tiny_flux_dev), cache=cache, guidance_scale=2.0, steps=1)
    meta = backend.generate(req(steps=None, width=32, height=32)).metadata
    assert meta["steps"] == 1 and meta["guidance_scale"] == 2.0
