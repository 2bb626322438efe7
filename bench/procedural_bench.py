"""Procedural engine throughput at 512×512 on one core: renders/s and edits/s, with PNG encoding of the
same images measured in the same run as the baseline (ratio = engine time / PNG-encode time).

    .venv/bin/python bench/procedural_bench.py [--seconds 8]

Seeds change every call so layouts (and glyph sizes) differ and caches do not flatter the figures.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backends.base import EditRequest, GenerationRequest  # noqa: E402
from backends.procedural import ProceduralBackend  # noqa: E402
from studio.images import encode_png  # noqa: E402

PROMPTS = [
    "a photo of a dog right of a teddy bear",
    "a photo of four donuts",
    "a photo of a purple bicycle and a yellow umbrella",
    "a cat on top of a car, an apple inside a bowl, in a city at night",
    "a sign that says 'OPEN 24/7' in bold letters on a beach at sunset",
    "three red cats and two blue dogs in a park",
]
STYLED = ["a big elephant and a small giraffe in a forest, pixel art", "a sailboat on the ocean, watercolor"]
EDITS = ["make the car blue", "remove the dog", "add a red ball left of the car", "move the dog to the top left corner",
         "change the background to a beach and make it night", "replace the dog with a horse"]


def run(label: str, fn, seconds: float) -> list[float]:
    """Call fn(i) repeatedly for about `seconds`; returns per-call times."""
    times, i, start = [], 0, time.perf_counter()
    while time.perf_counter() - start < seconds or i < 5:
        t = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t)
        i += 1
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=8.0, help="time per measurement")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    engine = ProceduralBackend(name="procedural")
    size = 512
    base = engine.generate(GenerationRequest(prompt="a red car, a dog and a bench in a park", seed=0, width=size, height=size))
    for p in PROMPTS + STYLED:  # warm the glyph and font caches once, as a running studio would be
        engine.generate(GenerationRequest(prompt=p, seed=0, width=size, height=size))

    results = {}
    images = []

    def gen(i: int, prompts=PROMPTS) -> None:
        res = engine.generate(GenerationRequest(prompt=prompts[i % len(prompts)], seed=1000 + i, width=size, height=size))
        if len(images) < 40:
            images.append(res)

    results["render"] = run("render", gen, args.seconds)
    results["render (styled)"] = run("styled", lambda i: gen(i, STYLED), args.seconds / 2)
    results["edit"] = run("edit", lambda i: engine.edit(EditRequest(image=base.image, instruction=EDITS[i % len(EDITS)], seed=i)), args.seconds)
    results["png encode (baseline)"] = run(
        "png", lambda i: encode_png(images[i % len(images)].image, {"scene_graph": images[i % len(images)].scene_graph}), args.seconds)

    png = statistics.median(results["png encode (baseline)"])
    print(f"procedural engine, {size}×{size}, one core (cpu affinity 1, thread env vars 1), {args.seconds:.0f}s per row")
    print(f"{'operation':<24}{'calls':>7}{'median ms':>11}{'p90 ms':>9}{'per s':>9}{'× png encode':>14}")
    for name, ts in results.items():
        ts_sorted = sorted(ts)
        med = statistics.median(ts)
        p90 = ts_sorted[int(0.9 * (len(ts) - 1))]
        print(f"{name:<24}{len(ts):>7}{med * 1e3:>11.1f}{p90 * 1e3:>9.1f}{1 / med:>9.1f}{med / png:>14.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
