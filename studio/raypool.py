"""Long-lived Ray actors fed with a stream of tasks: what synthesis batches and evaluation runs share.

Why actors and not plain tasks: a model should load once per GPU, not once per item, so each worker
is an actor that builds its backends in ``__init__`` and then runs items on request. The driver (the
studio process) keeps every database and image-store write; workers return values (PNG bytes, not
paths), so the cluster needs no shared filesystem.

A worker that dies is restarted by Ray and the call it was running is retried
(``WORKER_RESTARTS`` times); a call that still cannot run comes back as a lost task for the caller
to record. Ray is an optional extra, imported only when a batch or run is sent to a cluster.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from backends.registry import engine_uses_gpu

#: how often Ray restarts a dead worker, and retries the call it was running, before giving up
WORKER_RESTARTS = 3
_ROOT = Path(__file__).resolve().parents[1]


class RayUnavailable(Exception):
    """Ray is not installed or the cluster cannot be reached; the message says what to do."""


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide work runs on Ray.

    ``address``: ``local`` starts a cluster on this machine, ``auto`` joins the cluster this process
    runs in, anything else is a cluster address (``ray://host:10001`` or ``host:6379``).
    ``actors``: how many workers (default: one per GPU for GPU engines, one per CPU otherwise).
    """

    address: str = "local"
    actors: int | None = None
    gpus_per_actor: float | None = None
    local_cpus: int | None = None


def import_ray():
    try:
        import ray
    except ImportError:
        raise RayUnavailable("Ray is not installed: `pip install ray==2.60.0` (an optional extra), "
                             "or run without --ray") from None
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


def connect(options: RayOptions):
    """Start or join the cluster once per process (the studio's code travels with the job); returns ray."""
    ray = import_ray()
    if ray.is_initialized():
        return ray
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
    return ray


def start_workers(ray, worker_cls: type, init_args: Callable[[int], tuple], options: RayOptions,
                  engines: set[str], pending: int) -> tuple[list[Any], int]:
    """Actors of ``worker_cls`` sized to the cluster and the engines they hold, each built with
    ``init_args(number of actors)``; returns (actors, calls each runs at once). GPU engines get one GPU each when the cluster has GPUs; API engines run several calls
    at once (they wait on the network)."""
    resources = ray.cluster_resources()
    gpus = float(resources.get("GPU", 0))
    wants_gpu = any(engine_uses_gpu(e) for e in engines) and gpus > 0
    per_gpu = options.gpus_per_actor if options.gpus_per_actor is not None else (1.0 if wants_gpu else 0.0)
    if per_gpu > 0:
        default, shape = max(1, int(gpus // per_gpu)), {"num_gpus": per_gpu, "num_cpus": 1}
    else:
        default, shape = max(1, int(resources.get("CPU", 1))), {"num_cpus": 1}
    n = max(1, min(options.actors or default, max(pending, 1)))
    per_actor = 4 if engines and all(e.startswith("openai") for e in engines) else 1
    remote = ray.remote(max_restarts=WORKER_RESTARTS, max_task_retries=WORKER_RESTARTS,
                        max_concurrency=per_actor, **shape)(worker_cls)
    return [remote.remote(*init_args(n)) for _ in range(n)], per_actor


def run_tasks(ray, actors: list[Any], per_actor: int, tasks: Iterator[tuple[Any, tuple]],
              on_results: Callable[[list[tuple[Any, Any]]], None], should_stop: Callable[[], bool]) -> list[Any]:
    """Feed ``tasks`` (key, args for the actor's ``run``) to the actors until they run out or
    ``should_stop()``; hands each group of finished calls to ``on_results`` as (key, value) pairs, where
    a lost call's value is the Ray exception. Returns the keys taken from ``tasks`` but never sent."""
    inflight: dict[Any, tuple[Any, int]] = {}
    load = {i: 0 for i in range(len(actors))}
    held: list[tuple[Any, tuple]] = []
    exhausted = False
    while True:
        if not exhausted and should_stop():
            exhausted = True
        for slot in sorted(load, key=load.get):  # least loaded workers first
            while not exhausted and load[slot] < per_actor * 2:
                if not held:
                    nxt = next(tasks, None)
                    if nxt is None:
                        exhausted = True
                        break
                    held.append(nxt)
                key, args = held.pop(0)
                inflight[actors[slot].run.remote(*args)] = (key, slot)
                load[slot] += 1
        if not inflight:
            return [key for key, _ in held]
        ready, _ = ray.wait(list(inflight), num_returns=1, timeout=1.0)
        if not ready:
            continue
        rest = [r for r in inflight if r not in ready]
        if rest:  # everything else already finished joins the group: one transaction for them all
            more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
            ready += more
        group = []
        for ref in ready:
            key, slot = inflight.pop(ref)
            load[slot] -= 1
            try:
                group.append((key, ray.get(ref)))
            except ray.exceptions.RayError as exc:
                group.append((key, exc))
        on_results(group)


def stop_workers(ray, actors: list[Any]) -> None:
    for a in actors:
        ray.kill(a, no_restart=True)


def lost_message(exc: BaseException) -> str:
    """What a row or item records when Ray could not run it even after restarting its worker."""
    name = type(exc).__name__
    if "Actor" in name:
        return (f"the worker running this item died {WORKER_RESTARTS + 1} times; "
                "retry the failed items once the cluster is healthy")
    return f"Ray could not run this item ({name}); retry the failed items"
