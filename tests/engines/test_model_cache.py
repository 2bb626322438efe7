"""The model cache: memory budget, least-recently-used eviction, one load at a time per key."""
from __future__ import annotations

import threading
import time

import pytest

from backends.base import GenerationRequest
from backends.diffusers_engine import DiffusersText2Image
from backends.model_cache import ModelCache


class Blob:
    def __init__(self, size: int) -> None:
        self.size = size


def sized_cache(budget: int) -> ModelCache:
    return ModelCache(budget_bytes=budget, size_of=lambda blob: blob.size)


def test_lru_eviction_within_budget():
    cache = sized_cache(100)
    cache.get("a", lambda: Blob(40))
    cache.get("b", lambda: Blob(40))
    cache.get("a", lambda: pytest.fail("a is cached"))  # a becomes most recent
    cache.get("c", lambda: Blob(40))
    assert cache.keys() == ["a", "c"] and cache.evictions == ["b"]
    assert cache.used_bytes() == 80


def test_an_entry_bigger_than_the_budget_still_loads_alone():
    cache = sized_cache(10)
    cache.get("a", lambda: Blob(5))
    entry = cache.get("big", lambda: Blob(50))
    assert entry.value.size == 50 and cache.keys() == ["big"]


def test_one_load_at_a_time_per_key():
    cache = sized_cache(10**6)
    calls = []
    started = threading.Event()

    def slow_loader():
        calls.append(1)
        started.set()
        time.sleep(0.2)
        return Blob(1)

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("m", slow_loader))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len({id(r) for r in results}) == 1 and cache.loads == 1


def test_failed_load_is_not_cached():
    cache = sized_cache(100)
    with pytest.raises(RuntimeError):
        cache.get("m", lambda: (_ for _ in ()).throw(RuntimeError("boom")))
    assert cache.get("m", lambda: Blob(1)).value.size == 1


def test_real_pipelines_are_evicted_and_reloaded(tiny_sd, tiny_ip2p):
    size = sum(f.stat().st_size for f in tiny_sd.rglob("*.safetensors"))  # float32 weights on disk ~ in memory
    cache = ModelCache(budget_bytes=int(size * 1.5))  # room for one tiny pipeline only
    sd = DiffusersText2Image("sd", model=str(tiny_sd), cache=cache)
    sd_euler = DiffusersText2Image("sd-euler", model=str(tiny_sd), cache=cache, scheduler="euler")
    request = GenerationRequest("a cube", width=64, height=64, steps=1)
    sd.generate(request)
    assert 0.8 * size < cache.used_bytes() < 1.2 * size  # the estimate matches the weights
    sd_euler.generate(request)
    assert len(cache.keys()) == 1 and len(cache.evictions) == 1
    sd.generate(request)
    assert cache.loads == 3


def test_the_old_model_is_released_before_the_new_one_loads():
    import weakref

    cache = sized_cache(100)
    old = weakref.ref(cache.get("a", lambda: Blob(60)).value)
    seen = {}

    def load_b():
        seen["keys"], seen["old_alive"] = cache.keys(), old() is not None
        return Blob(60)

    cache.get("b", load_b, estimate=60)
    assert seen == {"keys": [], "old_alive": False}
    assert cache.keys() == ["b"] and cache.evictions == ["a"]


def test_no_early_eviction_when_the_estimate_fits():
    cache = sized_cache(100)
    cache.get("a", lambda: Blob(30))
    calls = []
    cache.get("b", lambda: Blob(30), estimate=lambda: calls.append(1) or 30)
    cache.get("b", lambda: pytest.fail("b is cached"), estimate=lambda: pytest.fail("only asked on a miss"))
    assert cache.keys() == ["a", "b"] and calls == [1]


def test_weights_estimate_matches_the_loaded_pipeline(tiny_sd):
    import torch
    from diffusers import StableDiffusionPipeline

    from backends.model_cache import estimate_bytes, estimate_weights_bytes

    loaded = estimate_bytes(StableDiffusionPipeline.from_pretrained(str(tiny_sd)))
    assert 0.95 * loaded < estimate_weights_bytes(str(tiny_sd)) < 1.05 * loaded
    half = estimate_weights_bytes(str(tiny_sd), torch.float16.itemsize)
    assert 0.45 * loaded < half < 0.55 * loaded
    assert estimate_weights_bytes("no-such-org/no-such-model") is None


def test_switching_pipelines_evicts_before_loading(tiny_sd):
    size = sum(f.stat().st_size for f in tiny_sd.rglob("*.safetensors"))
    cache = ModelCache(budget_bytes=int(size * 1.5))  # room for one tiny pipeline only
    sd = DiffusersText2Image("sd", model=str(tiny_sd), cache=cache)
    sd_euler = DiffusersText2Image("sd-euler", model=str(tiny_sd), cache=cache, scheduler="euler")
    request = GenerationRequest("a cube", width=64, height=64, steps=1)
    sd.generate(request)
    load = sd_euler._load_pipeline
    cached_during_load = []

    def watched_load(device, dtype):
        cached_during_load.extend(cache.keys())
        return load(device, dtype)

    sd_euler._load_pipeline = watched_load
    sd_euler.generate(request)
    assert cached_during_load == [] and len(cache.keys()) == 1
