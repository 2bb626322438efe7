"""Synthesis batch throughput through a local Ray cluster against the same batch in this process.

Both runs plan the same rows (procedural backend, same seed) into fresh data folders and time
``run_batch`` / ``run_batch_on_ray`` from the first claim to the last stored item. Ray's cluster is
started before the clock starts (a real cluster is already up); its workers' first model load is
inside the timed run, as it would be. Prints items/s for each and the ratio Ray / in-process
(goal >= 0.7 on a 2-core machine: the cost of the cluster path).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _studio(tmp: str):
    from studio.core import Studio
    from studio.settings import load_settings

    return Studio(load_settings(data_dir=Path(tmp)))


def _batch(studio, count: int, size: int, concurrency: int) -> str:
    from studio.synthesis.batches import BatchOptions, create_batch
    from studio.synthesis.dedup import DedupSettings
    from studio.synthesis.planner import SynthesisRequest

    req = SynthesisRequest(nodes=["opengpt4o/gen/spatial", "opengpt4o/edit/subject"], count=count, seed=11,
                           dedup=DedupSettings(near="off"))
    return create_batch(studio, req, BatchOptions(images_backend="procedural", dataset="bench", width=size,
                                                  height=size, concurrency=concurrency))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--size", type=int, default=128, help="image side in pixels")
    ap.add_argument("--cpus", type=int, default=os.cpu_count() or 1, help="CPUs of the local Ray cluster")
    ap.add_argument("--concurrency", type=int, default=4, help="threads of the in-process batch")
    args = ap.parse_args()

    from studio.raypool import RayOptions, connect
    from studio.synthesis.batches import run_batch
    from studio.synthesis.ray_runner import run_batch_on_ray

    figures = {}
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        studio = _studio(a)
        bid = _batch(studio, args.items, args.size, args.concurrency)
        t0 = time.perf_counter()
        st = run_batch(studio, bid)
        figures["in_process"] = {"items_per_s": st.done / (time.perf_counter() - t0), "done": st.done}
        studio.close()

        options = RayOptions(address="local", local_cpus=args.cpus)
        ray = connect(options)
        studio = _studio(b)
        bid = _batch(studio, args.items, args.size, args.concurrency)
        t0 = time.perf_counter()
        st = run_batch_on_ray(studio, bid, options)
        figures["ray"] = {"items_per_s": st.done / (time.perf_counter() - t0), "done": st.done,
                          "workers": int(ray.cluster_resources().get("CPU", 0))}
        studio.close()
        ray.shutdown()
    ratio = figures["ray"]["items_per_s"] / figures["in_process"]["items_per_s"]
    print(f"{args.items} items, {args.size}x{args.size}, procedural backend")
    print(f"in-process ({args.concurrency} threads): {figures['in_process']['items_per_s']:7.1f} items/s")
    print(f"ray ({figures['ray']['workers']} workers):           {figures['ray']['items_per_s']:7.1f} items/s")
    print(f"ratio ray / in-process: {ratio:.2f}  (goal >= 0.7)")
    print(json.dumps({**figures, "ratio": ratio}))


if __name__ == "__main__":
    main()
