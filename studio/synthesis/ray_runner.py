"""Runs a synthesis batch on a Ray cluster: the same items, the same store, other machines' GPUs.

Why a second runner: a batch's GPU work (diffusion, Janus) does not fit one machine, and a model
should load once per GPU rather than once per item. So each worker is a long-lived Ray actor that
builds the batch's backends once and turns planned rows into images; the driver (this process)
keeps everything that touches the studio's database and image store:

- workers return PNG bytes, never paths, so the cluster needs no shared filesystem;
- an item is marked done in the same transaction that stores its sample (``store_many``), so an item
  retried after a worker died is still stored once, and a driver killed mid-batch leaves its
  in-flight items "running" for ``--resume`` to put back in the queue;
- failures that are the item's fault (a refused prompt, an unusable LLM answer) come back as values
  and end as failed items; only a dying worker makes Ray retry the call on a restarted actor.

Ray is an optional extra, imported only here and only when a batch is sent to a cluster.
"""
from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from backends.base import BackendError, Cancelled
from backends.registry import BackendEntry, BackendRegistry
from studio.images import StoredFile, encode_png
from studio.synthesis.batch_exec import ItemExecutor, ItemResult
from studio.synthesis.batch_queries import ACTIVE as _ACTIVE, ACTIVE_LOCK as _ACTIVE_LOCK, BatchStatus, batch_status
from studio.synthesis.batches import BatchOptions, BatchRunner
from studio.synthesis.llm import LLMComposer, LLMOutputError
from studio.synthesis.rows import PlannedRow
from studio.synthesis.templates import SynthesisError

log = logging.getLogger(__name__)

#: engines whose models want a GPU when the cluster has one (API and procedural engines do not)
GPU_ENGINES = frozenset({"diffusers-text2image", "diffusers-edit", "janus", "omnigen2", "transformers-chat"})
#: how often Ray restarts a dead worker, and retries the call it was running, before giving up
WORKER_RESTARTS = 3
_ROOT = Path(__file__).resolve().parents[2]


class RayUnavailable(SynthesisError):
    """Ray is not installed or the cluster cannot be reached; the message says what to do."""


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide a batch runs on Ray.

    ``address``: ``local`` starts a cluster on this machine, ``auto`` joins the cluster this process
    runs in, anything else is a cluster address (``ray://host:10001`` or ``host:6379``).
    ``actors``: how many workers (default: one per GPU for GPU engines, one per CPU otherwise).
    """

    address: str = "local"
    actors: int | None = None
    gpus_per_actor: float | None = None
    local_cpus: int | None = None


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


@dataclass
class _WorkerServices:
    """What ``ItemExecutor`` and ``LLMComposer`` reach for: the backends and an image sink."""

    backends: BackendRegistry
    images: _CollectedImages


class ItemWorker:
    """One Ray actor: builds the batch's backends once, then runs planned rows on request."""

    def __init__(self, entries: dict[str, BackendEntry], options: dict[str, Any], batch_id: str,
                 requests_per_minute: float | None) -> None:
        self.options = BatchOptions.from_dict(options)
        self.batch_id = batch_id
        self.backends = BackendRegistry(entries)
        self.composer = None
        if self.options.chat_backend:
            self.composer = LLMComposer(_WorkerServices(self.backends, _CollectedImages()),
                                        self.options.chat_backend, requests_per_minute=requests_per_minute)
        self.cancel = threading.Event()

    def run(self, item_id: str, spec: dict[str, Any], position: int) -> dict[str, Any]:
        """One item: ``{"state": "done", "result", "blobs"}``, ``{"state": "failed", ...}`` or pending."""
        collected = _CollectedImages()  # per call: a worker may run several calls at once
        executor = ItemExecutor(_WorkerServices(self.backends, collected), self.options, self.composer, self.batch_id)
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

def _import_ray():
    try:
        import ray
    except ImportError:
        raise RayUnavailable("Ray is not installed: `pip install ray==2.60.0` (an optional extra), "
                             "or run the batch without --ray") from None
    return ray


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Ray retries an unreachable address for many minutes; a plain TCP connect answers in seconds."""
    if address == "auto":
        return  # the address comes from this node's Ray session; ray.init reports it itself
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise RayUnavailable(f"Ray address {address!r}: expected 'local', 'auto', 'host:port' or 'ray://host:port'")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise RayUnavailable(f"cannot reach the Ray cluster at {address!r} ({exc.strerror or exc}); "
                             "check the address and that the cluster is up") from None


def connect(ray, options: RayOptions) -> None:
    """Start or join the cluster once per process. The studio's code travels with the job."""
    if ray.is_initialized():
        return
    code = {"env_vars": {"PYTHONPATH": str(_ROOT)}} if options.address == "local" else {
        "working_dir": str(_ROOT),
        "excludes": [".git", ".venv", "studio_data", "tests", "bench", "*.db", "*.safetensors"]}
    kwargs: dict[str, Any] = {"runtime_env": code, "include_dashboard": False, "log_to_driver": False,
                              "configure_logging": False}
    if options.address == "local":
        kwargs["num_cpus"] = options.local_cpus or os.cpu_count() or 1
        kwargs["object_store_memory"] = 256 * 1024 * 1024  # results are a few PNGs per item
    else:
        _check_reachable(options.address)
        kwargs["address"] = options.address
    try:
        ray.init(**kwargs)
    except Exception as exc:  # noqa: BLE001 - ConnectionError and Ray's own errors alike
        raise RayUnavailable(f"cannot reach the Ray cluster at {options.address!r}: {exc}") from None


def _pool_shape(ray, options: RayOptions, entries: dict[str, BackendEntry], pending: int) -> tuple[int, dict[str, float], int]:
    """(actors, resources per actor, calls each actor runs at once) for this batch on this cluster."""
    resources = ray.cluster_resources()
    gpus = float(resources.get("GPU", 0))
    wants_gpu = any(e.engine in GPU_ENGINES for e in entries.values()) and gpus > 0
    per_gpu = options.gpus_per_actor if options.gpus_per_actor is not None else (1.0 if wants_gpu else 0.0)
    if per_gpu > 0:
        default = max(1, int(gpus // per_gpu))
        shape = {"num_gpus": per_gpu, "num_cpus": 1}
    else:
        default = max(1, int(resources.get("CPU", 1)))
        shape = {"num_cpus": 1}
    actors = max(1, min(options.actors or default, max(pending, 1)))
    # API engines spend their time waiting on the network: several calls per worker at once
    remote_only = all(e.engine.startswith("openai") for e in entries.values())
    return actors, shape, (4 if remote_only else 1)


class RayBatchRunner(BatchRunner):
    """``BatchRunner`` whose items run on Ray actors; claiming, storing and finishing are shared."""

    def __init__(self, studio, batch_id: str, ray_options: RayOptions,
                 progress: Callable[[BatchStatus], None] | None = None) -> None:
        super().__init__(studio, batch_id, progress)
        self.ray_options = ray_options

    def run(self, force: bool = False, claimed=None) -> BatchStatus:
        """1. claim the batch; 2. start the workers; 3. keep them fed and store what they return;
        4. close the batch as done, cancelled or interrupted."""
        ray = _import_ray()
        b = claimed or self.claim(force)
        options = BatchOptions.from_dict(b.config.get("options") or {})
        try:
            connect(ray, self.ray_options)
            entries = {n: self.studio.backends.entry(n) for n in (options.images_backend, options.chat_backend) if n}
            with _ACTIVE_LOCK:
                _ACTIVE[self.batch_id] = self
            hb = threading.Thread(target=self._heartbeat, daemon=True, name=f"heartbeat-{self.batch_id[:8]}")
            hb.start()
            self._run_items(ray, options, entries)
        finally:
            self._stop_heartbeat.set()
            with _ACTIVE_LOCK:
                _ACTIVE.pop(self.batch_id, None)
            self._finish()
        return batch_status(self.studio, self.batch_id)

    def _run_items(self, ray, options: BatchOptions, entries: dict[str, BackendEntry]) -> None:
        executor = ItemExecutor(self.studio, options, None, self.batch_id)  # stores on the driver
        st = batch_status(self.studio, self.batch_id)
        pending = st.total - st.done - st.failed
        n_actors, shape, per_actor = _pool_shape(ray, self.ray_options, entries, pending)
        rpm = options.requests_per_minute / n_actors if options.requests_per_minute else None
        remote = ray.remote(max_restarts=WORKER_RESTARTS, max_task_retries=WORKER_RESTARTS,
                            max_concurrency=per_actor, **shape)(ItemWorker)
        actors = [remote.remote(entries, options.to_dict(), self.batch_id, rpm) for _ in range(n_actors)]
        self.actors = actors  # tests reach the workers here to kill one
        inflight: dict[Any, tuple[str, Any]] = {}  # ref -> (item id, actor)
        load = {i: 0 for i in range(len(actors))}
        queue: list[tuple[str, dict[str, Any], int]] = []
        exhausted = False
        next_check = 0.0
        try:
            while True:
                if time.monotonic() >= next_check:  # the heartbeat also sets cancel; this is quicker
                    next_check = time.monotonic() + 1.0
                    if self._cancel_requested():
                        self.cancel.set()
                if self.cancel.is_set():
                    self.cancel.set()
                    for item_id, _, _ in queue:
                        self._set_item(item_id, "pending", None, None)
                    queue.clear()
                    exhausted = True
                if not exhausted and len(queue) < len(actors) * per_actor:
                    page = self._claim_page(limit=max(32, len(actors) * per_actor * 4))
                    exhausted = not page
                    queue.extend(page)
                for slot in sorted(load, key=load.get):  # least loaded workers first
                    while queue and load[slot] < per_actor * 2:
                        item_id, spec, position = queue.pop(0)
                        inflight[actors[slot].run.remote(item_id, spec, position)] = (item_id, slot)
                        load[slot] += 1
                if not inflight:
                    if exhausted and not queue:
                        return
                    continue
                ready, _ = ray.wait(list(inflight), num_returns=1, timeout=1.0)
                if ready:  # take everything else that has finished too: one transaction for them all
                    more, _ = ray.wait([r for r in inflight if r not in ready], num_returns=len(inflight) - len(ready),
                                       timeout=0)
                    ready += more
                done: list[tuple[ItemResult, str]] = []
                for ref in ready:
                    item_id, slot = inflight.pop(ref)
                    load[slot] -= 1
                    outcome = self._outcome(ray, ref, item_id)
                    if outcome is not None:
                        done.append(outcome)
                self._store(executor, done)
                if done and self.progress is not None:
                    self._report()
        finally:
            for item_id, _, _ in queue:
                self._set_item(item_id, "pending", None, None)
            for a in actors:
                ray.kill(a, no_restart=True)

    def _outcome(self, ray, ref, item_id: str) -> tuple[ItemResult, str] | None:
        """A finished call: a result to store, or the item's failure recorded now."""
        try:
            out = ray.get(ref)
        except ray.exceptions.RayActorError:
            self._set_item(item_id, "failed", f"the worker running this item died {WORKER_RESTARTS + 1} times; "
                           "retry the failed items once the cluster is healthy", None)
            return None
        except ray.exceptions.RayError as exc:
            self._set_item(item_id, "failed", f"Ray could not run this item: {type(exc).__name__}", None)
            return None
        if out["state"] == "pending":
            self._set_item(item_id, "pending", None, None)
            return None
        if out["state"] == "failed":
            self._set_item(item_id, "failed", out["error"], out.get("raw"), tuple(out.get("usage") or (0, 0, 0, 0.0)))
            return None
        result: ItemResult = out["result"]
        result.files = [self.studio.images.put_bytes(out["blobs"][f.sha256], fmt="PNG", size=(f.width, f.height))
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
