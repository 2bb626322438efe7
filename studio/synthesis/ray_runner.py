"""Runs a synthesis batch on a Ray cluster: the same items, the same store, other machines' GPUs.

Each worker (see studio.raypool) builds the batch's backends once and turns planned rows into images;
this process keeps everything that touches the studio's database and image store:

- an item is marked done in the same transaction that stores its sample (``store_many``), so an item
  retried after a worker died is still stored once, and a driver killed mid-batch leaves its
  in-flight items "running" for ``--resume`` to put back in the queue;
- failures that are the item's fault (a refused prompt, an unusable LLM answer) come back as values
  and end as failed items; only a dying worker makes Ray retry the call on a restarted actor.
"""
from __future__ import annotations

import hashlib
import logging
import threading
import time
from pathlib import Path
from typing import Any, Callable

from backends.base import BackendError, Cancelled
from backends.registry import BackendEntry, BackendRegistry
from studio.images import StoredFile, encode_png
from studio.raypool import RayOptions, connect, lost_message, run_tasks, start_workers, stop_workers
from studio.synthesis.batch_exec import ItemExecutor, ItemResult
from studio.synthesis.batch_queries import ACTIVE as _ACTIVE, ACTIVE_LOCK as _ACTIVE_LOCK, BatchStatus, load_batch_status
from studio.synthesis.batches import BatchOptions, BatchRunner
from studio.synthesis.llm import LLMComposer, LLMOutputError
from studio.synthesis.rows import PlannedRow
from studio.synthesis.templates import SynthesisError

log = logging.getLogger(__name__)

# -- the worker side ---------------------------------------------------------------------------

class _CollectedImages:
    """Stands in for the image store inside a worker: keeps each image's PNG bytes for the driver."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    def put(self, img, text: dict[str, Any] | None = None) -> StoredFile:
        data = encode_png(img, text)
        sha = hashlib.sha256(data).hexdigest()
        self.blobs[sha] = data
        return StoredFile(sha, Path(), "", img.width, img.height, "PNG", len(data))


class ItemWorker:
    """One Ray actor: builds the batch's backends once, then runs planned rows on request."""

    def __init__(self, entries: dict[str, BackendEntry], options: dict[str, Any], batch_id: str,
                 requests_per_minute: float | None) -> None:
        self.options = BatchOptions.from_dict(options)
        self.batch_id = batch_id
        self.backends = BackendRegistry(entries)
        self.composer = None
        if self.options.chat_backend:
            self.composer = LLMComposer(self.backends,
                                        self.options.chat_backend, requests_per_minute=requests_per_minute)
        self.cancel = threading.Event()

    def run(self, item_id: str, spec: dict[str, Any], position: int) -> dict[str, Any]:
        """One item: ``{"state": "done", "result", "blobs"}``, ``{"state": "failed", ...}`` or pending."""
        collected = _CollectedImages()  # per call: a worker may run several calls at once
        executor = ItemExecutor(self.backends, collected, None, self.options, self.composer, self.batch_id)
        try:
            result = executor.execute(PlannedRow.from_dict(spec), item_id, position, self.cancel)
        except Cancelled:
            return {"state": "pending"}
        except LLMOutputError as exc:
            outcome = getattr(exc, "outcome", None)
            usage = ((len(outcome.calls), outcome.prompt_tokens, outcome.completion_tokens, outcome.cost_usd)
                     if outcome is not None else (0, 0, 0, 0.0))
            return {"state": "failed", "error": f"LLM answer not usable: {exc}", "raw": exc.raw, "usage": usage}
        except (BackendError, SynthesisError, ValueError, OSError) as exc:
            return {"state": "failed", "error": str(exc)}
        except Exception as exc:  # noqa: BLE001 - our bug: logged on the worker, a failed item here
            log.exception("synthesis item %s failed on a Ray worker", item_id)
            return {"state": "failed", "error": f"{type(exc).__name__}: {exc}"}
        return {"state": "done", "result": result,
                "blobs": {f.sha256: collected.blobs[f.sha256] for f in result.files}}

    def close(self) -> None:
        self.backends.close()


# -- the driver side ---------------------------------------------------------------------------

class _ClaimedItems:
    """The batch's pending items, claimed a page at a time as the workers need them."""

    def __init__(self, runner: "RayBatchRunner", page: int) -> None:
        self.runner, self.page, self.buffer = runner, page, []

    def __iter__(self):
        return self

    def __next__(self):
        if not self.buffer:
            self.buffer = self.runner._claim_page(limit=self.page)
            if not self.buffer:
                raise StopIteration
        item_id, spec, position = self.buffer.pop(0)
        return item_id, (item_id, spec, position)


class RayBatchRunner(BatchRunner):
    """``BatchRunner`` whose items run on Ray actors; claiming, storing and finishing are shared."""

    def __init__(self, studio, batch_id: str, ray_options: RayOptions,
                 progress: Callable[[BatchStatus], None] | None = None) -> None:
        super().__init__(studio.db, studio.backends, studio.images, studio.samples, batch_id, progress)
        self.ray_options = ray_options
        self.actors: list[Any] = []

    def run(self, force: bool = False, claimed=None) -> BatchStatus:
        """1. claim the batch; 2. start the workers; 3. keep them fed and store what they return;
        4. close the batch as done, cancelled or interrupted."""
        b = claimed or self.claim(force)
        options = BatchOptions.from_dict(b.config.get("options") or {})
        try:
            ray = connect(self.ray_options)
            entries = {n: self.backends.entry(n) for n in (options.images_backend, options.chat_backend) if n}
            with _ACTIVE_LOCK:
                _ACTIVE[self.batch_id] = self
            threading.Thread(target=self._heartbeat, daemon=True, name=f"heartbeat-{self.batch_id[:8]}").start()
            self._run_items(ray, options, entries)
        finally:
            self._stop_heartbeat.set()
            with _ACTIVE_LOCK:
                _ACTIVE.pop(self.batch_id, None)
            self._finish()
        return load_batch_status(self.db, self.batch_id)

    def _run_items(self, ray, options: BatchOptions, entries: dict[str, BackendEntry]) -> None:
        executor = ItemExecutor(self.backends, self.images, self.samples, options, None,
                                self.batch_id)  # stores on the driver
        st = load_batch_status(self.db, self.batch_id)
        rpm = options.requests_per_minute  # the batch's limit: each worker gets its share
        self.actors, per_actor = start_workers(
            ray, ItemWorker, lambda n: (entries, options.to_dict(), self.batch_id, rpm / n if rpm else None),
            self.ray_options, {e.engine for e in entries.values()}, st.total - st.done - st.failed)
        items = _ClaimedItems(self, page=max(32, len(self.actors) * per_actor * 4))
        next_check = [0.0]

        def should_stop() -> bool:
            if time.monotonic() >= next_check[0]:  # the heartbeat also sets cancel; this is quicker
                next_check[0] = time.monotonic() + 1.0
                if self._cancel_requested():
                    self.cancel.set()
            return self.cancel.is_set()

        def on_results(group: list[tuple[str, Any]]) -> None:
            done = [d for d in (self._outcome(item_id, out) for item_id, out in group) if d is not None]
            self._store(executor, done)
            if done and self.progress is not None:
                self._report()

        try:
            unsent = run_tasks(ray, self.actors, per_actor, items, on_results, should_stop)
            for item_id in unsent + [b[0] for b in items.buffer]:
                self._set_item(item_id, "pending", None, None)
        finally:
            stop_workers(ray, self.actors)

    def _outcome(self, item_id: str, out: Any) -> tuple[ItemResult, str] | None:
        """A finished call: a result to store, or the item's failure recorded now."""
        if isinstance(out, BaseException):
            self._set_item(item_id, "failed", lost_message(out), None)
            return None
        if out["state"] == "pending":
            self._set_item(item_id, "pending", None, None)
            return None
        if out["state"] == "failed":
            self._set_item(item_id, "failed", out["error"], out.get("raw"), tuple(out.get("usage") or (0, 0, 0, 0.0)))
            return None
        result: ItemResult = out["result"]
        result.files = [self.images.put_bytes(out["blobs"][f.sha256], fmt="PNG", size=(f.width, f.height))
                        for f in result.files]
        return result, item_id

    def _store(self, executor: ItemExecutor, done: list[tuple[ItemResult, str]]) -> None:
        """The finished items in one transaction; if that fails, each alone, so one bad item fails alone."""
        if not done:
            return
        try:
            executor.store_many(done, self.batch_id)
            return
        except Exception:  # noqa: BLE001
            log.exception("storing %d items of batch %s together failed; storing them one by one",
                          len(done), self.batch_id)
        for result, item_id in done:
            try:
                executor.store_many([(result, item_id)], self.batch_id)
            except Exception as exc:  # noqa: BLE001 - surfaces as a failed item
                log.exception("storing item %s failed", item_id)
                self._set_item(item_id, "failed", f"could not store the result: {type(exc).__name__}: {exc}", None)


def run_batch_on_ray(studio, batch_id: str, ray_options: RayOptions, *, force: bool = False,
                     progress: Callable[[BatchStatus], None] | None = None) -> BatchStatus:
    """Run (or resume) a batch on a Ray cluster from this process until it is done or cancelled."""
    return RayBatchRunner(studio, batch_id, ray_options, progress).run(force=force)
