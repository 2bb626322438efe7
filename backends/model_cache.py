"""Loaded models kept within a memory budget: least recently used evicted, one load at a time per key.

Backends ask ``shared_cache().get(key, loader, estimate)``; two backends naming the same base model
share one pipeline (LoRA variants switch adapters on it). With an ``estimate`` of the new model's
bytes (``estimate_weights_bytes`` reads it from the weight files' headers) older entries are evicted
to make room BEFORE the load, so switching between two large models on one GPU never holds both. The budget is ``STUDIO_MODEL_CACHE_GB`` (GiB) or,
without it, 90% of the GPU's memory when there is one, else half of the machine's RAM.
"""
from __future__ import annotations

import gc
import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
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


#: bytes per element of the safetensors dtypes a model is stored in
_SAFETENSORS_BYTES = {"F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4, "F16": 2, "BF16": 2,
                      "I16": 2, "U16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "I8": 1, "U8": 1, "BOOL": 1}
#: "name.<variant>.safetensors" or "name.<variant>-00001-of-00002.safetensors"
_VARIANT = re.compile(r"^[^.]+\.([\w]+?)(-\d+-of-\d+)?\.safetensors$")


def weights_folder(model: str, local_files_only: bool = True) -> Path | None:
    """The local folder of ``model``: the path itself, or its snapshot in the Hugging Face cache."""
    path = Path(model)
    if path.is_dir():
        return path
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(model, local_files_only=True))
    except Exception:  # noqa: BLE001 - not downloaded yet (or not a hub id): no estimate
        return None


def estimate_weights_bytes(model: str, dtype_bytes: int | None = None, variant: str | None = None,
                           ) -> int | None:
    """Bytes ``model``'s safetensors weights take once loaded, from their headers (nothing is read).

    ``dtype_bytes`` is the element size the weights are cast to (None keeps the stored dtypes);
    ``variant`` picks ``*.<variant>.safetensors`` files where a folder holds several. None when the
    weights are not on this machine or not in safetensors format.
    """
    folder = weights_folder(model)
    if folder is None:
        return None
    from safetensors import safe_open

    by_dir: dict[Path, list[Path]] = {}
    for file in folder.rglob("*.safetensors"):
        by_dir.setdefault(file.parent, []).append(file)
    total = 0
    for files in by_dir.values():
        tagged = {f: (m.group(1) if (m := _VARIANT.match(f.name)) else None) for f in files}
        chosen = [f for f, v in tagged.items() if v == variant] or [f for f, v in tagged.items() if v is None]
        for file in chosen or files:
            with safe_open(str(file), framework="numpy") as handle:
                for name in handle.keys():
                    tensor = handle.get_slice(name)
                    numel = 1
                    for dim in tensor.get_shape():
                        numel *= dim
                    size = _SAFETENSORS_BYTES.get(tensor.get_dtype(), 4)
                    # integer buffers keep their type when a model is cast
                    floating = tensor.get_dtype().startswith(("F", "BF"))
                    total += numel * (dtype_bytes if dtype_bytes and floating else size)
    return total or None


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

    def get(self, key: Hashable, loader: Callable[[], Any],
            estimate: int | Callable[[], int | None] | None = None) -> CachedModel:
        """The cached entry for ``key``, loading it (once, even under concurrency) when absent.

        1. A cached entry is returned (and becomes the most recently used).
        2. Otherwise, with an ``estimate`` of the new model's bytes (a number, or a function called
           only on a miss), least recently used entries are evicted and released until the estimate
           fits the budget, before anything is loaded.
        3. The loader runs; the loaded object's real size is recorded and entries are evicted again
           if the estimate was short.
        """
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
            incoming = estimate() if callable(estimate) else estimate
            with self._guard:
                room = self._evict_over_budget(keep=key, incoming=incoming) if incoming else []
            _release(room)
            value = loader()
            entry = CachedModel(key=key, value=value, size_bytes=self._size_of(value))
            with self._guard:
                self._entries[key] = entry
                self.loads += 1
                evicted = self._evict_over_budget(keep=key)
        _release(evicted)
        return entry

    def _evict_over_budget(self, keep: Hashable, incoming: int = 0) -> list[CachedModel]:
        evicted = []
        while self.used_bytes() + incoming > self.budget_bytes:
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
        _release([entry])
        return True

    def clear(self) -> None:
        with self._guard:
            entries = list(self._entries.values())
            self._entries.clear()
        _release(entries)


def _release(entries: list[CachedModel]) -> None:
    """Let go of evicted models' memory (GPU caches included) once no call in flight holds them.

    The entries drop their value and state (which may hold pipelines sharing the same modules),
    so the memory is free before the caller loads the next model.
    """
    if not entries:
        return
    for entry in entries:
        entry.value = None
        entry.state.clear()
    entries.clear()
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
