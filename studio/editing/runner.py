"""Calling a backend for one turn: per-backend defaults, parameter checks, a time limit."""
from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Callable, Mapping, TypeVar

from backends.base import BackendError, Cancelled, Capability
from backends.registry import engine_class

log = logging.getLogger(__name__)

T = TypeVar("T")

#: parameters every edit request has a field for; anything else goes to ``EditRequest.params``
REQUEST_FIELDS = ("seed", "steps", "guidance_scale", "image_guidance_scale", "strength", "negative_prompt")
DEFAULT_TIMEOUT_S = 300.0


class TurnFailed(Exception):
    """A turn could not produce an image; ``reason`` is what the user is shown."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def edit_backends(studio) -> list[tuple[str, str]]:
    """(label, name) of every configured backend that can edit or inpaint, in config order."""
    seen: dict[str, str] = {}
    for cap in (Capability.EDIT, Capability.INPAINT):
        for entry in studio.backends.by_capability(cap):
            seen.setdefault(entry.name, entry.label)
    return [(label, name) for name, label in seen.items()]


def generate_backends(studio) -> list[tuple[str, str]]:
    """(label, name) of every configured text-to-image backend."""
    return [(e.label, e.name) for e in studio.backends.by_capability(Capability.TEXT_TO_IMAGE)]


def supports_mask(studio, backend: str) -> bool:
    """Whether the backend declares inpainting (masks)."""
    return Capability.INPAINT in studio.backends.entry(backend).capabilities


def backend_defaults(studio, backend: str) -> dict[str, Any]:
    """The engine class's ``default_params`` without building the backend (no weights loaded)."""
    entry = studio.backends.entry(backend)
    try:
        cls = engine_class(entry.engine)
    except (ImportError, AttributeError) as exc:
        log.info("defaults of %s unavailable: %s", backend, exc)
        return {}
    return dict(getattr(cls, "default_params", {}) or {})


def clean_params(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Drop empty values and check types; raises ValueError naming the bad parameter."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if value is None or value == "":
            continue
        if key in ("seed", "steps"):
            try:
                as_float = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"{key} must be a whole number, got {value!r}") from None
            if as_float != int(as_float):
                raise ValueError(f"{key} must be a whole number, got {value!r}")
            value = int(as_float)
            if key == "steps" and value < 1:
                raise ValueError("steps must be at least 1")
            if key == "seed" and value < 0:
                raise ValueError("seed must not be negative")
        elif key in ("guidance_scale", "image_guidance_scale", "strength"):
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"{key} must be a number, got {value!r}") from None
            if value < 0:
                raise ValueError(f"{key} must not be negative")
            if key == "strength" and value > 1:
                raise ValueError("strength must be between 0 and 1")
        out[key] = value
    return out


def split_params(params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(fields of the request, engine-specific extras)."""
    fields = {k: params[k] for k in REQUEST_FIELDS if k in params}
    extras = {k: v for k, v in params.items() if k not in REQUEST_FIELDS and k != "timeout_s"}
    return fields, extras


def _run_into(future: Future, fn: Callable, *args: Any) -> None:
    if future.set_running_or_notify_cancel():
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # handed to the caller
            future.set_exception(exc)


def call_with_timeout(fn: Callable[[threading.Event], T], timeout_s: float, what: str) -> T:
    """Run ``fn(cancel)`` on a worker thread; past ``timeout_s`` set ``cancel`` and fail the turn.

    Every failure becomes :class:`TurnFailed` with a reason the user can read.
    """
    cancel = threading.Event()
    future: Future = Future()
    # a daemon thread of its own (not a pool's): a backend call that never returns must not keep the
    # server from exiting, and it must not hold up the next turn
    threading.Thread(target=_run_into, args=(future, fn, cancel), daemon=True).start()
    try:
        return future.result(timeout_s)
    except FutureTimeout:
        cancel.set()
        raise TurnFailed(f"{what} timed out after {timeout_s:g} s (the request was cancelled)") from None
    except BackendError as exc:
        raise TurnFailed(str(exc)) from exc
    except Cancelled as exc:
        raise TurnFailed(f"{what} was cancelled") from exc
    except Exception as exc:  # noqa: BLE001 - any engine bug fails this turn, with its message
        log.error("%s failed", what, exc_info=exc)
        raise TurnFailed(f"{what} failed: {type(exc).__name__}: {exc}") from exc
