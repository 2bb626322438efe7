"""Synthesis batches: plan once, store every item, run resumably.

``create_batch`` plans the rows and stores them as items; ``run_batch`` works through the items that
are not done. An item's sample is written in the same transaction that marks the item done, so a
crash at any point leaves either a done item with its sample or a pending item without one: resuming
never duplicates or loses a sample. Failures are recorded with their error (and the LLM's raw text)
and can be retried; they are never stored as successes. A heartbeat tells a live runner from a dead
one, so a batch whose process died can be resumed while a running one cannot be started twice.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Callable

from sqlalchemy import func, insert, select, update

from backends.base import BackendError, Cancelled, Capability
from backends.registry import BackendRegistry
from studio.db import Database, new_id, utcnow
from studio.images import ImageStore
from studio.samples import SampleStore
from studio.synthesis.batch_exec import ItemExecutor
from studio.synthesis.batch_writer import ResultWriter
from studio.synthesis.batch_queries import (ACTIVE as _ACTIVE, ACTIVE_LOCK as _ACTIVE_LOCK, BatchStatus,
                                            batch_items, batch_status, list_batches,  # noqa: F401 (re-exported)
                                            load_batch_status)
from studio.synthesis.batch_queries import runner_alive as _runner_alive, runner_id as _runner_id
from studio.synthesis.llm import LLMComposer, LLMOutputError, resolve_chat_backend
from studio.synthesis.models import SynthesisBatch, SynthesisItem
from studio.synthesis.planner import Planner, SynthesisRequest
from studio.synthesis.rows import PlannedRow
from studio.synthesis.templates import SynthesisError
from studio.taxonomy.tree import TaxonomyForest

log = logging.getLogger(__name__)
HEARTBEAT_S = 5.0
SERVER_STOPPED = "failed: the server stopped"


@dataclass
class BatchOptions:
    """How to run a batch (stored with it so a resume runs it the same way)."""

    dataset: str = "synthesis"
    images_backend: str | None = None
    chat_backend: str | None = None
    concurrency: int = 4
    requests_per_minute: float | None = None
    width: int = 512
    height: int = 512
    #: sampling steps of the image backend (None: the backend's own)
    steps: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "BatchOptions":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def check_options(backends: BackendRegistry, taxonomy: TaxonomyForest, request: SynthesisRequest,
                  options: BatchOptions) -> None:
    """Errors a user can fix before anything is stored (missing backends, bad limits)."""
    if options.images_backend:
        entry = backends.entry(options.images_backend)  # BackendLoadError names the fix
        planner = Planner(taxonomy)
        leaves = planner.resolve(request.nodes)
        needs_edit = any(n in planner.res.node_specs and planner.res.specs[planner.res.node_specs[n]]["kind"] != "generation"
                         for n in leaves)
        if Capability.TEXT_TO_IMAGE not in entry.capabilities:
            raise SynthesisError(f"backend {options.images_backend!r} cannot generate images from text")
        if needs_edit and Capability.EDIT not in entry.capabilities:
            raise SynthesisError(f"backend {options.images_backend!r} cannot edit images, and edit subtasks "
                                 "were picked; choose an edit-capable backend")
    if request.method == "llm" or request.image_first:
        options.chat_backend = resolve_chat_backend(backends, options.chat_backend)
    if not 1 <= int(options.concurrency) <= 64:
        raise SynthesisError("concurrency must be between 1 and 64")
    if options.requests_per_minute is not None and options.requests_per_minute <= 0:
        raise SynthesisError("requests per minute must be positive (or empty for no limit)")
    if not (8 <= options.width <= 2048 and 8 <= options.height <= 2048):
        raise SynthesisError("image size must be between 8 and 2048 pixels per side")
    if options.steps is not None and not 1 <= int(options.steps) <= 1000:
        raise SynthesisError("steps must be between 1 and 1000 (or empty for the backend's own)")


def existing_prompts(samples: SampleStore, request: SynthesisRequest, dataset: str | None) -> list[tuple[str, str]]:
    """The target dataset's prompts as (label, prompt), when the request skips what it holds."""
    dataset = (dataset or "").strip()
    if not dataset or not request.dedup.skip_existing:
        return []
    return [(f"sample {sid[:8]} already in dataset '{dataset}'", prompt)
            for sid, prompt in samples.prompts(dataset)]


def create_batch(studio, request: SynthesisRequest, options: BatchOptions | None = None,
                 name: str = "") -> str:
    """Plan the rows and store the batch with one pending item per row; returns the batch id.

    1. Check the options against the configured backends (what a user can fix before anything is stored).
    2. Plan the rows (``planner``), skipping prompts the target dataset holds when asked.
    3. Store the batch and one pending item per row.
    """
    options = options or BatchOptions()
    dataset = (options.dataset or "synthesis").strip()[:128] or "synthesis"
    options.dataset = dataset
    check_options(studio.backends, studio.taxonomy, request, options)
    plan = Planner(studio.taxonomy).plan(request, existing_prompts(studio.samples, request, dataset))
    batch_id = new_id()
    now = utcnow()
    with studio.db.session() as s:
        s.add(SynthesisBatch(
            id=batch_id, name=(name or "")[:128], dataset=dataset, method=request.method, status="pending",
            config={"request": request.to_config(), "options": options.to_dict(),
                    "dedup": {"method": plan.dedup.method, "dropped": plan.dedup.dropped[:500],
                              "notices": plan.dedup.notices}, "notices": plan.notices},
            total=len(plan.rows), created_at=now, updated_at=now,
            llm_calls=0, prompt_tokens=0, completion_tokens=0, cost_usd=0.0,
        ))
        s.flush()
        chunk = []
        for pos, row in enumerate(plan.rows):
            chunk.append({"id": new_id(), "batch_id": batch_id, "position": pos, "taxonomy_id": row.taxonomy_id,
                          "spec": row.to_dict(), "state": "pending", "attempts": 0, "updated_at": now})
            if len(chunk) >= 1000:
                s.execute(insert(SynthesisItem), chunk)
                chunk = []
        if chunk:
            s.execute(insert(SynthesisItem), chunk)
    return batch_id


def cancel_batch(studio, batch_id: str) -> str:
    """Ask the runner to stop after the items in flight; a batch not running is cancelled at once."""
    runner = _ACTIVE.get(batch_id)
    if runner is not None:
        runner.cancel.set()
    with studio.db.session() as s:
        b = s.get(SynthesisBatch, batch_id)
        if b is None:
            raise SynthesisError(f"no batch {batch_id!r}")
        if b.status in ("done", "cancelled"):
            return b.status
        alive = b.status in ("running", "cancelling") and _runner_alive(b.runner, b.heartbeat_at)
        b.status = "cancelling" if alive else "cancelled"
        b.updated_at = utcnow()
        return b.status


def retry_failed(studio, batch_id: str) -> int:
    """Put failed items back to pending; returns how many."""
    with studio.db.session() as s:
        n = s.execute(update(SynthesisItem).where(SynthesisItem.batch_id == batch_id,
                                                  SynthesisItem.state == "failed")
                      .values(state="pending", updated_at=utcnow())).rowcount
        b = s.get(SynthesisBatch, batch_id)
        if b is not None and b.status in ("done", "failed", "cancelled", "interrupted"):
            b.status = "pending"
            b.error = None
    return int(n or 0)


class BatchRunner:
    """Processes one batch's open items with a pool of workers.

    It takes what it uses: the database (items, marks, counters), the backend registry (the batch's
    engines), the image store (outputs) and the sample store (the one writer of samples).
    """

    def __init__(self, db: Database, backends: BackendRegistry, images: ImageStore, samples: SampleStore,
                 batch_id: str, progress: Callable[[BatchStatus], None] | None = None) -> None:
        self.db, self.backends, self.images, self.samples = db, backends, images, samples
        self.batch_id = batch_id
        self.progress = progress
        self.cancel = threading.Event()
        self.runner = _runner_id() + f"#{id(self) % 10000}"
        self.runner = self.runner[:64]
        self._stop_heartbeat = threading.Event()
        self._progress_lock = threading.Lock()

    def claim(self, force: bool = False) -> SynthesisBatch:
        with self.db.session() as s:
            b = s.get(SynthesisBatch, self.batch_id, with_for_update=True)
            if b is None:
                raise SynthesisError(f"no batch {self.batch_id!r}")
            if b.status == "done" and not _open_items(s, self.batch_id):
                raise SynthesisError(f"batch {self.batch_id[:8]} is already done")
            if b.status in ("running", "cancelling") and _runner_alive(b.runner, b.heartbeat_at) and not force:
                raise SynthesisError(f"batch {self.batch_id[:8]} is being run by {b.runner}; wait or cancel it")
            # items a dead runner left half-done go back to the queue (their sample was never written)
            s.execute(update(SynthesisItem).where(SynthesisItem.batch_id == self.batch_id,
                                                  SynthesisItem.state == "running")
                      .values(state="pending", updated_at=utcnow()))
            b.status, b.runner, b.heartbeat_at, b.error = "running", self.runner, utcnow(), None
            b.started_at = b.started_at or utcnow()
            b.finished_at = None
            return b

    def _heartbeat(self) -> None:
        while not self._stop_heartbeat.wait(HEARTBEAT_S):
            try:
                with self.db.session() as s:
                    b = s.get(SynthesisBatch, self.batch_id)
                    if b is None:
                        return
                    b.heartbeat_at = utcnow()
                    if b.status == "cancelling":
                        self.cancel.set()
            except Exception:  # noqa: BLE001 - a missed heartbeat is not fatal
                log.exception("heartbeat of batch %s failed", self.batch_id)

    def run(self, force: bool = False, claimed: SynthesisBatch | None = None) -> BatchStatus:
        b = claimed or self.claim(force)
        cfg = b.config
        options = BatchOptions.from_dict(cfg.get("options") or {})
        composer = None
        if options.chat_backend:
            composer = LLMComposer(self.backends, options.chat_backend,
                                   requests_per_minute=options.requests_per_minute)
        executor = ItemExecutor(self.backends, self.images, self.samples, options, composer, self.batch_id)
        with _ACTIVE_LOCK:
            _ACTIVE[self.batch_id] = self
        hb = threading.Thread(target=self._heartbeat, daemon=True, name=f"heartbeat-{self.batch_id[:8]}")
        hb.start()
        self._writer = ResultWriter(
            executor, self.batch_id,
            on_failed=lambda item_id, message: self._set_item(item_id, "failed", message, None),
            on_stored=self._report if self.progress is not None else None)
        try:
            workers = max(1, int(options.concurrency))
            # A sliding window: claim the next page while the workers still have work queued, so
            # no worker idles at a page boundary waiting for the slowest item of the page.
            low_water, page_size = workers * 2, max(workers * 4, 32)
            with ThreadPoolExecutor(max_workers=workers) as pool:
                inflight: set = set()
                exhausted = False
                while not self.cancel.is_set():
                    if not exhausted and len(inflight) < low_water:
                        page = self._claim_page(limit=page_size)
                        exhausted = not page
                        inflight.update(pool.submit(self._process, executor, *item) for item in page)
                        if self._cancel_requested():
                            self.cancel.set()
                        continue
                    if not inflight:
                        break
                    done, inflight = wait(inflight, return_when=FIRST_COMPLETED)
                    for f in done:
                        f.result()
                for f in inflight:  # cancelled: let claimed items put themselves back
                    f.result()
        finally:
            self._writer.close()  # every finished item is stored before the batch is closed
            self._stop_heartbeat.set()
            with _ACTIVE_LOCK:
                _ACTIVE.pop(self.batch_id, None)
            self._finish()
        return load_batch_status(self.db, self.batch_id)

    def _cancel_requested(self) -> bool:
        with self.db.session() as s:
            b = s.get(SynthesisBatch, self.batch_id)
            return b is None or b.status in ("cancelling", "cancelled")

    def _claim_page(self, limit: int) -> list[tuple[str, dict[str, Any], int]]:
        """The next pending items in order, marked running in one transaction (a crash resets them)."""
        with self.db.session() as s:
            rows = s.execute(select(SynthesisItem.id, SynthesisItem.spec, SynthesisItem.position).where(
                SynthesisItem.batch_id == self.batch_id, SynthesisItem.state == "pending")
                .order_by(SynthesisItem.position).limit(limit)).all()
            ids = [r[0] for r in rows]
            if ids:
                s.execute(update(SynthesisItem).where(SynthesisItem.id.in_(ids)).values(
                    state="running", attempts=SynthesisItem.attempts + 1, updated_at=utcnow()))
            return [(r[0], dict(r[1]), r[2]) for r in rows]

    def _process(self, executor: "ItemExecutor", item_id: str, spec: dict[str, Any], position: int) -> None:
        if self.cancel.is_set():
            self._set_item(item_id, "pending", None, None)
            return
        row = PlannedRow.from_dict(spec)
        llm_usage = (0, 0, 0, 0.0)
        result = None
        try:
            result = executor.execute(row, item_id, position, self.cancel)
        except Cancelled:
            self._set_item(item_id, "pending", None, None)
            return
        except LLMOutputError as exc:
            outcome = getattr(exc, "outcome", None)
            if outcome is not None:
                llm_usage = (len(outcome.calls), outcome.prompt_tokens, outcome.completion_tokens, outcome.cost_usd)
            self._set_item(item_id, "failed", f"LLM answer not usable: {exc}", exc.raw, llm_usage)
            return
        except (BackendError, SynthesisError, ValueError, OSError) as exc:
            self._set_item(item_id, "failed", str(exc), None)
            return
        except Exception as exc:  # noqa: BLE001 - our bug: logged, surfaces as a failed item
            log.exception("synthesis item %s failed", item_id)
            self._set_item(item_id, "failed", f"{type(exc).__name__}: {exc}", None)
            return
        else:
            self._writer.put(result, item_id)  # stored (and reported) by the writer thread
            return
        finally:
            if self.progress is not None and not self.cancel.is_set() and result is None:
                self._report()

    def _report(self) -> None:
        with self._progress_lock:
            self.progress(load_batch_status(self.db, self.batch_id))

    def _set_item(self, item_id: str, state: str, error: str | None, raw: str | None,
                  llm_usage: tuple[int, int, int, float] = (0, 0, 0, 0.0)) -> None:
        with self.db.session() as s:
            s.execute(update(SynthesisItem).where(SynthesisItem.id == item_id).values(
                state=state, error=error, raw_output=raw, updated_at=utcnow()))
            if llm_usage[0]:
                s.execute(update(SynthesisBatch).where(SynthesisBatch.id == self.batch_id).values(
                    llm_calls=SynthesisBatch.llm_calls + llm_usage[0],
                    prompt_tokens=SynthesisBatch.prompt_tokens + llm_usage[1],
                    completion_tokens=SynthesisBatch.completion_tokens + llm_usage[2],
                    cost_usd=SynthesisBatch.cost_usd + llm_usage[3]))

    def _finish(self) -> None:
        with self.db.session() as s:
            b = s.get(SynthesisBatch, self.batch_id)
            if b is None:
                return
            left = _open_items(s, self.batch_id)
            failed = s.execute(select(func.count()).where(SynthesisItem.batch_id == self.batch_id,
                                                          SynthesisItem.state == "failed")).scalar_one()
            if left and (b.status in ("cancelling", "cancelled") or self.cancel.is_set()):
                b.status = "cancelled"
            elif left:
                b.status = "interrupted"
            else:
                b.status = "done"
                b.error = f"{failed} item(s) failed; retry them" if failed else None
            b.finished_at = utcnow()
            b.runner = None
            b.updated_at = utcnow()


def _open_items(s, batch_id: str) -> int:
    return int(s.execute(select(func.count()).where(SynthesisItem.batch_id == batch_id,
                                                    SynthesisItem.state.in_(("pending", "running")))).scalar_one())


def run_batch(studio, batch_id: str, *, force: bool = False,
              progress: Callable[[BatchStatus], None] | None = None) -> BatchStatus:
    """Run (or resume) a batch in this thread until its open items are done or it is cancelled.

    1. Claim the batch (a live runner elsewhere keeps it unless ``force``).
    2. Run its open items on a pool of workers: each row through the LLM composer (if any) and the
       images backend (``batch_exec.ItemExecutor``); finished items are stored in groups through the
       sample store, each group with its items' done marks (``batch_writer.ResultWriter``).
    3. Close the batch as done, cancelled or interrupted; return its status.
    """
    return _runner(studio, batch_id, progress).run(force=force)


def _runner(studio, batch_id: str, progress: Callable[[BatchStatus], None] | None = None) -> BatchRunner:
    return BatchRunner(studio.db, studio.backends, studio.images, studio.samples, batch_id, progress)


def start_batch(studio, batch_id: str) -> threading.Thread:
    """Run a batch on a background thread of this process (the UI's way: survives a closed browser).

    1. Claim it here, so a batch that cannot run fails in the caller.
    2. Run it as :func:`run_batch` does, on a daemon thread; an internal error marks the batch failed.
    """
    runner = _runner(studio, batch_id)
    claimed = runner.claim()  # fail now, in the caller, if it cannot run
    with _ACTIVE_LOCK:
        _ACTIVE[batch_id] = runner

    def work() -> None:
        try:
            runner.run(claimed=claimed)
        except Exception:  # noqa: BLE001
            log.exception("batch %s stopped with an error", batch_id)
            with studio.db.session() as s:
                b = s.get(SynthesisBatch, batch_id)
                if b is not None:
                    b.status, b.error = "failed", "the runner stopped with an internal error (see the log)"

    t = threading.Thread(target=work, daemon=True, name=f"synthesis-{batch_id[:8]}")
    t.start()
    return t


def mark_interrupted(studio) -> int:
    """At start-up: batches left 'running' by a dead process become 'interrupted' (resumable), and the
    items it was working on 'failed: the server stopped' (Retry failed runs them again at once)."""
    n = 0
    with studio.db.session() as s:
        for b in s.execute(select(SynthesisBatch).where(
                SynthesisBatch.status.in_(("running", "cancelling")))).scalars():
            if not _runner_alive(b.runner, b.heartbeat_at):
                b.status = "interrupted" if b.status == "running" else "cancelled"
                s.execute(update(SynthesisItem).where(SynthesisItem.batch_id == b.id, SynthesisItem.state == "running")
                          .values(state="failed", error=SERVER_STOPPED, updated_at=utcnow()))
                n += 1
    return n
