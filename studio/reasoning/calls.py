"""Backend calls with an outer time bound, so a hanging reasoner or renderer becomes a clear outcome."""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Callable, Iterator

from PIL import Image

from backends.base import Backend, BackendError, Cancelled, ChatMessage, ChatRequest, ChatResult

log = logging.getLogger(__name__)

ImageJob = Callable[[threading.Event], Image.Image]


class ReasonerError(RuntimeError):
    """The reasoner or critic gave no usable reply: timeout, remote error, empty answer."""


def describe_error(exc: BaseException) -> str:
    """A one-line reason for the user; unexpected errors are logged with their traceback."""
    if isinstance(exc, BackendError):
        return str(exc)
    if isinstance(exc, Cancelled):
        return "cancelled"
    log.exception("backend call failed", exc_info=exc)
    return f"unexpected error: {type(exc).__name__}: {exc}"


#: how often waiting loops look at the user's stop request
POLL_S = 0.05


def ask(backend: Backend, messages: list[ChatMessage], *, timeout_s: float, what: str,
        stop: threading.Event | None = None) -> ChatResult:
    """Chat with ``backend``; ReasonerError on timeout, stop, backend failure or an empty reply."""
    cancel = threading.Event()
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reasoner")
    started = time.perf_counter()
    future = pool.submit(backend.chat, ChatRequest(messages=messages, cancel=cancel))
    pool.shutdown(wait=False)
    deadline = started + timeout_s
    while True:
        if stop is not None and stop.is_set():
            cancel.set()
            raise ReasonerError(f"stopped by the user while waiting for {what} '{backend.name}'")
        left = deadline - time.perf_counter()
        if left <= 0:
            cancel.set()
            raise ReasonerError(f"{what} '{backend.name}' did not answer within {timeout_s:g} s")
        try:
            result = future.result(timeout=min(left, POLL_S))
            break
        except TimeoutError:
            continue
        except Exception as exc:  # noqa: BLE001 - every failure becomes a visible outcome
            raise ReasonerError(f"{what} '{backend.name}' failed: {describe_error(exc)}") from exc
    if not (result.text or "").strip():
        raise ReasonerError(f"{what} '{backend.name}' returned an empty reply")
    if not result.latency_s:
        result.latency_s = time.perf_counter() - started
    return result


def llm_record(result: ChatResult, role: str) -> dict:
    """What a run keeps about one chat call."""
    return {
        "role": role,
        "backend": result.backend,
        "model": result.model,
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "latency_s": round(result.latency_s, 4),
        "cost_usd": result.cost_usd,
    }


def run_image_jobs(
    jobs: list[ImageJob], *, concurrent: bool, timeout_s: float, stop: threading.Event | None = None
) -> Iterator[tuple[int, Image.Image | None, str, float]]:
    """Run image jobs, yielding ``(index, image or None, error, seconds)`` as each one finishes.

    Concurrent: all start at once, results arrive in completion order. Sequential: one after
    another in order. Either way the whole batch shares one deadline of ``timeout_s``; jobs still
    running then (or when ``stop`` is set) are cancelled and reported as timed out (or stopped).
    """
    if not jobs:
        return
    cancel = threading.Event()
    workers = len(jobs) if concurrent else 1
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="render")
    started: dict[int, float] = {}

    def timed(i: int, job: ImageJob) -> Image.Image:
        started[i] = time.perf_counter()
        return job(cancel)

    t0 = time.perf_counter()
    deadline = t0 + timeout_s
    futures: dict[Future, int] = {pool.submit(timed, i, job): i for i, job in enumerate(jobs)}
    pending = set(futures)
    reason = f"timed out after {timeout_s:g} s"
    try:
        while pending:
            if stop is not None and stop.is_set():
                reason = "stopped by the user"
                break
            left = deadline - time.perf_counter()
            if left <= 0:
                break
            done, pending = wait(pending, timeout=min(left, POLL_S), return_when=FIRST_COMPLETED)
            for fut in sorted(done, key=lambda f: futures[f]):
                i = futures[fut]
                secs = time.perf_counter() - started.get(i, t0)
                exc = fut.exception()
                if exc is not None:
                    yield i, None, describe_error(exc), secs
                else:
                    yield i, fut.result(), "", secs
        if pending:
            cancel.set()
            for fut in sorted(pending, key=lambda f: futures[f]):
                fut.cancel()
                yield futures[fut], None, reason, time.perf_counter() - t0
    finally:
        cancel.set()  # finished jobs ignore it; abandoned ones stop between steps
        pool.shutdown(wait=False, cancel_futures=True)
