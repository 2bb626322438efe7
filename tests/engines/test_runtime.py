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
