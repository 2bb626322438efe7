"""Loaded models kept within a memory budget: least recently used evicted, one load at a time per key.

Backends ask ``shared_cache().get(key, loader)``; two backends naming the same base model share one
pipeline (LoRA variants switch adapters on it). The budget is ``STUDIO_MODEL_CACHE_GB`` (GiB) or,
without it, 90% of the GPU's memory when there is one, else half of the machine's RAM.
"""
from __future__ import annotations

import gc
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable


@dataclass
class CachedModel:
    """One loaded object plus the lock that serialises calls on it."""

    key: Hashable
    value: Any
    size_bytes: int
    lock: threading.RLock = field(default_factory=threading.RLock)
    #: free-form per-entry state for the backend (e.g. which LoRA adapters are loaded)
    state: dict[str, Any] = field(default_factory=dict)


def estimate_bytes(obj: Any) -> int:
    """Bytes of parameters and buffers of every torch module reachable from ``obj`` (a pipeline or model)."""
    modules = []
    if hasattr(obj, "parameters") and callable(obj.parameters):
        modules.append(obj)
    components = getattr(obj, "components", None)
    if isinstance(components, dict):
        modules += [m for m in components.values() if hasattr(m, "parameters") and callable(m.parameters)]
    seen: set[int] = set()
    total = 0
    for module in modules:
        for tensor in list(module.parameters()) + list(module.buffers()):
            if id(tensor) not in seen:
                seen.add(id(tensor))
                total += tensor.numel() * tensor.element_size()
    return total


def default_budget_bytes() -> int:
    """Budget from STUDIO_MODEL_CACHE_GB, else 90% of GPU memory, else half the RAM."""
    env = os.environ.get("STUDIO_MODEL_CACHE_GB")
    if env:
        return int(float(env) * 2**30)
    try:
        import torch

        if torch.cuda.is_available():
            return int(torch.cuda.get_device_properties(0).total_memory * 0.9)
    except Exception:  # noqa: BLE001 - no torch / no driver: fall through to RAM
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 0.5)
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


class ModelCache:
    """LRU cache of loaded models bounded by a byte budget."""

    def __init__(self, budget_bytes: int | None = None,
                 size_of: Callable[[Any], int] = estimate_bytes) -> None:
        self.budget_bytes = default_budget_bytes() if budget_bytes is None else int(budget_bytes)
        self._size_of = size_of
        self._entries: OrderedDict[Hashable, CachedModel] = OrderedDict()
        self._load_locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()
        self.loads = 0
        self.evictions: list[Hashable] = []

    def get(self, key: Hashable, loader: Callable[[], Any]) -> CachedModel:
        """The cached entry for ``key``, loading it (once, even under concurrency) when absent."""
        with self._guard:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                return entry
            load_lock = self._load_locks.setdefault(key, threading.Lock())
        with load_lock:
            with self._guard:
                entry = self._entries.get(key)
                if entry is not None:
                    self._entries.move_to_end(key)
                    return entry
            value = loader()
            entry = CachedModel(key=key, value=value, size_bytes=self._size_of(value))
            with self._guard:
                self._entries[key] = entry
                self.loads += 1
                evicted = self._evict_over_budget(keep=key)
        for old in evicted:
            _release(old.value)
        return entry

    def _evict_over_budget(self, keep: Hashable) -> list[CachedModel]:
        evicted = []
        while self.used_bytes() > self.budget_bytes:
            victim = next((k for k in self._entries if k != keep), None)
            if victim is None:
                break
            evicted.append(self._entries.pop(victim))
            self.evictions.append(victim)
        return evicted

    def used_bytes(self) -> int:
        return sum(e.size_bytes for e in self._entries.values())

    def keys(self) -> list[Hashable]:
        """Keys from least to most recently used."""
        with self._guard:
            return list(self._entries)

    def evict(self, key: Hashable) -> bool:
        """Drop one entry now; True when it was cached."""
        with self._guard:
            entry = self._entries.pop(key, None)
        if entry is None:
            return False
        _release(entry.value)
        return True

    def clear(self) -> None:
        with self._guard:
            entries = list(self._entries.values())
            self._entries.clear()
        for entry in entries:
            _release(entry.value)


def _release(value: Any) -> None:
    """Let go of a model's memory (GPU caches included) once nothing else holds it."""
    del value
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # noqa: BLE001
        pass


_shared: ModelCache | None = None
_shared_guard = threading.Lock()


def shared_cache() -> ModelCache:
    """The process-wide cache all built-in engines use."""
    global _shared
    with _shared_guard:
        if _shared is None:
            _shared = ModelCache()
        return _shared
