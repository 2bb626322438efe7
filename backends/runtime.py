"""Where model work runs: device and dtype choice, ZeroGPU wrapping, and load-failure messages.

Everything heavy (torch) is imported inside functions so importing this module costs nothing.
On Hugging Face Spaces with ZeroGPU (the ``spaces`` package importable), following its documentation:

1. the functions Gradio calls for GPU work carry ``spaces.GPU`` (``gpu_handler`` applies it), so
   Gradio marks those events and logged-in visitors' own quotas apply;
2. backends marked ``preload: true`` load and move to CUDA at import time, outside any decorated
   function (``preload_marked``): ZeroGPU moves the weights onto the GPU it attaches per call;
3. GPU work that arrives outside a decorated handler (background threads) still runs under
   ``spaces.GPU(duration=...)`` through ``run_gpu_task``.

Elsewhere all three are plain calls.
"""
from __future__ import annotations

import functools
import inspect
import logging
import os
from typing import Any, Callable, TypeVar

from backends.base import BackendError, BackendLoadError, Cancelled

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger(__name__)

_DTYPES = {"float32": "float32", "fp32": "float32", "float16": "float16", "fp16": "float16",
           "half": "float16", "bfloat16": "bfloat16", "bf16": "bfloat16"}


def pick_device(name: str, requested: str | None = None) -> str:
    """``requested`` (cuda, cuda:1, mps, cpu) or the best available; a missing GPU is a load error."""
    import torch

    if requested in (None, "", "auto"):
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise BackendLoadError(name, f"device '{requested}' asked for but no CUDA GPU is visible",
                               "run on a GPU machine, or set options.device: cpu (much slower)")
    if requested == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise BackendLoadError(name, "device 'mps' asked for but Metal is not available",
                               "set options.device: cpu")
    return requested


def pick_dtype(name: str, device: str, requested: str | None = None) -> Any:
    """``requested`` or bfloat16 on a GPU that has it, float16 on other GPUs, float32 on CPU."""
    import torch

    if requested not in (None, "", "auto"):
        key = _DTYPES.get(str(requested).lower())
        if key is None:
            raise BackendLoadError(name, f"unknown dtype '{requested}'",
                                   "use one of float32, float16, bfloat16 or auto")
        return getattr(torch, key)
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device == "mps":
        return torch.float16
    return torch.float32


def local_files_only(options: dict[str, Any]) -> bool:
    """Offline unless told otherwise when HF_HUB_OFFLINE is set (tests, air-gapped machines)."""
    if "local_files_only" in options:
        return bool(options["local_files_only"])
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")


def load_failure(name: str, model: str, exc: BaseException) -> BackendLoadError:
    """Translate an exception raised while loading ``model`` into name + reason + fix."""
    if isinstance(exc, BackendLoadError):
        return exc
    text = f"{type(exc).__name__}: {exc}"
    low = text.lower()
    if is_out_of_memory(exc):
        return BackendLoadError(name, f"out of memory while loading '{model}'",
                                "set options.cpu_offload: true or dtype: float16, close other backends, "
                                "or use a GPU with more memory")
    if isinstance(exc, ImportError):
        missing = getattr(exc, "name", None) or str(exc)
        return BackendLoadError(name, f"a package needed by '{model}' is not installed ({missing})",
                                "install it into the studio's environment (pip install ...)")
    missing_markers = ("does not appear to have", "no such file", "not a valid model identifier",
                       "repository not found", "cannot find the requested files", "localentrynotfound",
                       "is not a local folder", "couldn't connect", "outgoing traffic has been disabled",
                       "does not exist", "no file named", "error no file")
    if isinstance(exc, (FileNotFoundError, OSError)) or any(m in low for m in missing_markers):
        return BackendLoadError(name, f"model weights for '{model}' not found ({_short(text)})",
                                "check options.model (hub id or local folder); on an offline machine "
                                "download it first (huggingface-cli download) and point to the folder")
    if "cuda" in low and ("not compiled" in low or "no cuda" in low or "driver" in low):
        return BackendLoadError(name, f"'{model}' needs a GPU that is not available ({_short(text)})",
                                "run on a GPU machine or set options.device: cpu")
    return BackendLoadError(name, f"failed to load '{model}': {_short(text)}",
                            "check the model id/path, options and the device, then reload")


def is_out_of_memory(exc: BaseException) -> bool:
    """True for CUDA/MPS/CPU allocation failures."""
    low = str(exc).lower()
    return type(exc).__name__ == "OutOfMemoryError" or "out of memory" in low or isinstance(exc, MemoryError)


def run_failure(name: str, exc: BaseException) -> BaseException:
    """Exceptions raised while running a model: OOM becomes a BackendError, the rest pass through."""
    if isinstance(exc, (BackendError, Cancelled)):
        return exc
    if is_out_of_memory(exc):
        return BackendError(name, "ran out of memory during generation",
                            "lower the size or steps, enable options.cpu_offload, or free other backends")
    return exc


def _short(text: str, limit: int = 300) -> str:
    first = text.strip().splitlines()[0] if text.strip() else text
    return first if len(first) <= limit else first[: limit - 1] + "…"


# -- ZeroGPU -------------------------------------------------------------------------------
#: spaces.GPU wrappers by duration bucket (seconds); fixed durations work with every ``spaces`` version
_ZERO_GPU_BUCKETS = (30, 60, 120, 180, 300)
_zero_gpu_calls: dict[int, Callable[..., Any]] | None = None
_zero_gpu_checked = False


def _call(fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    return fn(*args, **kwargs)


def on_zero_gpu() -> bool:
    """True on a Hugging Face Space where the ``spaces`` package is importable."""
    global _zero_gpu_calls, _zero_gpu_checked
    if not _zero_gpu_checked:
        _zero_gpu_checked = True
        if os.environ.get("SPACE_ID") or os.environ.get("SPACES_ZERO_GPU"):
            try:
                import spaces  # type: ignore[import-not-found]
            except ImportError:
                spaces = None
            if spaces is not None:
                _zero_gpu_calls = {d: spaces.GPU(duration=d)(_call) for d in _ZERO_GPU_BUCKETS}
    return _zero_gpu_calls is not None


def run_gpu_task(fn: Callable[..., T], *args: Any, duration: float = 60.0, **kwargs: Any) -> T:
    """Run ``fn`` under ``spaces.GPU`` (the smallest duration bucket >= ``duration``) on ZeroGPU, else
    directly; inside a ``gpu_handler`` call the GPU is already attached, so it also runs directly."""
    if on_zero_gpu() and _inside_gpu_handler == 0:
        assert _zero_gpu_calls is not None
        bucket = next((d for d in _ZERO_GPU_BUCKETS if d >= duration), _ZERO_GPU_BUCKETS[-1])
        return _zero_gpu_calls[bucket](fn, args, kwargs)
    return fn(*args, **kwargs)


def estimate_duration(steps: int, pixels: int, per_megapixel_step: float = 0.12, base: float = 8.0) -> float:
    """A ZeroGPU duration estimate in seconds for a diffusion call."""
    return base + steps * per_megapixel_step * max(pixels / 1e6, 0.25)


#: calls of gpu_handler-decorated functions running in this process. On ZeroGPU their bodies run in
#: the GPU worker process, where every thread sees the count (a context variable would not reach
#: the threads that run engine calls with a timeout).
_inside_gpu_handler = 0


def gpu_handler(duration: int = 120) -> Callable[[F], F]:
    """Decorator for the functions Gradio calls that run models: ``spaces.GPU(duration=...)`` on ZeroGPU.

    The decorated function keeps its name and signature (Gradio reads both). Off ZeroGPU it runs
    unchanged; generator functions stay generators.
    """

    def decorate(fn: F) -> F:
        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def inside(*args: Any, **kwargs: Any) -> Any:
                global _inside_gpu_handler
                _inside_gpu_handler += 1
                try:
                    yield from fn(*args, **kwargs)
                finally:
                    _inside_gpu_handler -= 1
        else:
            @functools.wraps(fn)
            def inside(*args: Any, **kwargs: Any) -> Any:
                global _inside_gpu_handler
                _inside_gpu_handler += 1
                try:
                    return fn(*args, **kwargs)
                finally:
                    _inside_gpu_handler -= 1
        wrapped = _spaces_gpu(duration)(inside) if on_zero_gpu() else inside
        wrapped.gpu_duration = duration  # type: ignore[attr-defined]
        return wrapped  # type: ignore[return-value]

    return decorate


def _spaces_gpu(duration: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    import spaces  # type: ignore[import-not-found]

    return spaces.GPU(duration=duration)


def preload_marked(registry: Any) -> list[str]:
    """Build the backends whose options say ``preload: true`` and load their models now (at import).

    Returns the names loaded; a backend that fails to load is logged and left for its first use,
    which reports the same error to the user.
    """
    on_zero_gpu()  # imports ``spaces`` before torch touches CUDA, as ZeroGPU requires
    loaded = []
    for entry in registry.entries():
        if not entry.options.get("preload"):
            continue
        try:
            backend = registry.get(entry.name)
            load = getattr(backend, "entry", None)
            if callable(load):
                load()
            loaded.append(entry.name)
        except Exception as exc:  # noqa: BLE001 - the studio must start even if one model cannot
            log.warning("preloading backend %s failed: %s", entry.name, exc)
    return loaded
