"""Device/dtype choice, load-failure messages and ZeroGPU wrapping."""
from __future__ import annotations

import sys
import types

import pytest
import torch

from backends import runtime
from backends.base import BackendError, BackendLoadError, Cancelled


@pytest.fixture
def fresh_zero_gpu(monkeypatch):
    monkeypatch.setattr(runtime, "_zero_gpu_checked", False)
    monkeypatch.setattr(runtime, "_zero_gpu_calls", None)
    yield
    runtime._zero_gpu_checked = False
    runtime._zero_gpu_calls = None


def test_gpu_work_runs_under_spaces_gpu_on_a_space(monkeypatch, fresh_zero_gpu):
    calls = []
    fake = types.ModuleType("spaces")

    def gpu(duration):
        def wrap(fn):
            def run(*args, **kwargs):
                calls.append(duration)
                return fn(*args, **kwargs)
            return run
        return wrap

    fake.GPU = gpu
    monkeypatch.setitem(sys.modules, "spaces", fake)
    monkeypatch.setenv("SPACE_ID", "someone/studio")
    assert runtime.run_gpu_task(lambda a, b=0: a + b, 2, b=3, duration=42.5) == 5
    assert runtime.run_gpu_task(lambda: "long", duration=1000) == "long"
    assert calls == [60, 300]  # the smallest bucket that covers the estimate, capped at the largest


def test_elsewhere_gpu_work_runs_directly(monkeypatch, fresh_zero_gpu):
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    assert runtime.run_gpu_task(lambda: "plain", duration=10) == "plain"
    assert not runtime.on_zero_gpu()


def test_device_and_dtype_choice():
    assert runtime.pick_device("b", None) in ("cpu", "cuda", "mps")
    assert runtime.pick_dtype("b", "cpu") is torch.float32
    assert runtime.pick_dtype("b", "cpu", "bf16") is torch.bfloat16
    with pytest.raises(BackendLoadError, match="unknown dtype"):
        runtime.pick_dtype("b", "cpu", "float8")


def test_load_failures_name_reason_and_fix():
    oom = runtime.load_failure("big", "org/huge", RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"))
    assert "out of memory" in oom.reason and "cpu_offload" in oom.fix and oom.backend == "big"
    missing = runtime.load_failure("m", "org/absent", OSError("org/absent is not a local folder"))
    assert "not found" in missing.reason and "huggingface-cli download" in missing.fix
    pkg = runtime.load_failure("m", "x", ImportError("no module", name="sentencepiece"))
    assert "sentencepiece" in pkg.reason


def test_run_failures():
    assert isinstance(runtime.run_failure("b", RuntimeError("out of memory")), BackendError)
    cancelled = Cancelled()
    assert runtime.run_failure("b", cancelled) is cancelled
    other = ValueError("bug")
    assert runtime.run_failure("b", other) is other


def test_gpu_handler_is_harmless_off_zero_gpu(monkeypatch, fresh_zero_gpu):
    import inspect

    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)

    @runtime.gpu_handler(duration=90)
    def on_send(owner, message, request=None):
        """Runs a turn."""
        return f"{owner}: {message}"

    @runtime.gpu_handler()
    def on_stream(n):
        yield from range(n)

    assert on_send("ann", "make it red") == "ann: make it red"
    assert on_send.__name__ == "on_send" and on_send.__doc__ == "Runs a turn."
    assert list(inspect.signature(on_send).parameters) == ["owner", "message", "request"]
    assert on_send.gpu_duration == 90
    assert inspect.isgeneratorfunction(on_stream) and list(on_stream(3)) == [0, 1, 2]


def test_gpu_handler_carries_spaces_gpu_on_zero_gpu_and_nested_work_runs_directly(monkeypatch, fresh_zero_gpu):
    from tests.support.fake_spaces import fake_spaces_module

    spaces = fake_spaces_module()
    monkeypatch.setitem(sys.modules, "spaces", spaces)
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")

    @runtime.gpu_handler(duration=120)
    def on_send(x):
        return runtime.run_gpu_task(lambda: x * 2, duration=30)  # the engine's own wrapping inside

    assert ("on_send", 120) in spaces.decorated
    assert on_send(4) == 8
    assert spaces.calls == ["on_send"]  # one GPU acquisition, not a nested second one
    assert runtime.run_gpu_task(lambda: "alone", duration=30) == "alone"  # outside a handler: wrapped
    assert spaces.calls == ["on_send", "_call"]


def test_preload_marked_loads_those_backends_before_any_request(tiny_sd, tiny_flux, monkeypatch, fresh_zero_gpu):
    from backends.model_cache import shared_cache
    from backends.registry import BackendRegistry, parse_backends_config

    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    registry = BackendRegistry(parse_backends_config({"backends": {
        "sd": {"engine": "diffusers-text2image", "options": {"model": str(tiny_sd), "preload": True}},
        "flux": {"engine": "diffusers-text2image", "options": {"model": str(tiny_flux)}},
        "broken": {"engine": "diffusers-text2image", "options": {"model": "/no/such/model", "preload": True}},
    }}))
    cache = shared_cache()
    try:
        assert runtime.preload_marked(registry) == ["sd"]  # a failing one is logged, not fatal
        models = [key[1] for key in cache.keys()]
        assert str(tiny_sd) in models and str(tiny_flux) not in models
    finally:
        for key in [k for k in cache.keys() if k[1] == str(tiny_sd)]:
            cache.evict(key)


def test_the_edit_tabs_model_handlers_carry_spaces_gpu_on_zero_gpu(monkeypatch, fresh_zero_gpu, tmp_path):
    from studio.core import Studio
    from studio.settings import load_settings
    from studio.ui.app import build_app
    from tests.support.fake_spaces import fake_spaces_module

    spaces = fake_spaces_module()
    monkeypatch.setitem(sys.modules, "spaces", spaces)
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    studio = Studio(load_settings(data_dir=tmp_path))
    try:
        build_app(studio)
    finally:
        studio.close()
    decorated = dict(spaces.decorated)
    for handler in ("start_from_prompt", "send", "retry"):
        assert decorated.get(handler) == 120, spaces.decorated
