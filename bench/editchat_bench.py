"""Edit chat: per-turn studio overhead (persistence, history, drift metric, PNG encoding) against
the bare backend call, both measured in the same run on the same inputs, at 512×512 with the
procedural backend.

    .venv/bin/python bench/editchat_bench.py [--turns 30] [--backend procedural]

Each step runs the bare ``backend.edit`` on an image and a full studio turn
(``studio.editing.submit_turn``) with the same instruction on the same image, in alternating
order, so machine load and warm caches favour neither. Overhead share = (turn − bare) / turn, medians over the steps.
Both are timed twice: wall-clock, and CPU time of the process (all threads), which other jobs on a shared
machine disturb far less than the wall clock.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backends.base import EditRequest  # noqa: E402
from studio import editing  # noqa: E402
from studio.core import Studio  # noqa: E402
from studio.editing import drift as driftlib  # noqa: E402
from studio.editing import images as imgs  # noqa: E402
from studio.images import encode_png  # noqa: E402
from studio.settings import load_settings  # noqa: E402

PROMPT = "a red apple to the left of a blue cup, a green ball below a yellow banana"
INSTRUCTIONS = ["make the apple green", "make the cup red", "make the apple red", "make the cup blue"]
WARMUP = len(INSTRUCTIONS)  # one round of every instruction before anything is counted


def median_ms(xs: list[float]) -> float:
    return statistics.median(xs) * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--turns", type=int, default=30)
    ap.add_argument("--backend", default="procedural")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        studio = Studio(load_settings(data_dir=Path(tmp)))
        try:
            return run(studio, args.turns, args.backend)
        finally:
            studio.close()


def run(studio: Studio, turns: int, backend_name: str) -> int:
    view, _ = editing.start_from_prompt(studio, "bench", PROMPT, backend_name, width=512, height=512)
    backend = studio.backends.get(backend_name)
    source = studio.edit_images.open_stored(view.source_image)
    print(f"backend {backend_name}, image {source.width}×{source.height}, {turns} turns (+{WARMUP} warm-up)")
    head = None
    bare, full, encode, drift = [], [], [], []
    bare_cpu, full_cpu, encode_cpu, floor_cpu = [], [], [], []
    for i in range(turns + WARMUP):
        text = INSTRUCTIONS[i % len(INSTRUCTIONS)]
        image = studio.edit_images.open_stored(view.image_of(head) if head else view.source_image)
        def bare_call():
            c0, t0 = time.process_time(), time.perf_counter()
            res = backend.edit(EditRequest(image=image, instruction=text))
            return res, time.perf_counter() - t0, time.process_time() - c0

        if i % 2 == 0:  # alternate which goes first, so neither gains from the other's warm caches
            result, t_bare, c_bare = bare_call()
        c0, t0 = time.process_time(), time.perf_counter()
        out = editing.submit_turn(studio, "bench", view.id, text, backend_name, shown=head)
        t_full, c_full = time.perf_counter() - t0, time.process_time() - c0
        if i % 2 == 1:
            result, t_bare, c_bare = bare_call()
        if out.turn.status != "done":
            print(f"turn {i} failed: {out.turn.error}")
            return 1
        head, view = out.turn.id, out.session
        # the two largest parts of the overhead, timed alone on this turn's images
        t0, c0 = time.perf_counter(), time.process_time()
        imgs.encode(result.image)
        t_enc, c_enc = time.perf_counter() - t0, time.process_time() - c0
        c0 = time.process_time()  # Pillow's floor: its per-row filter choice, with no compression at all
        encode_png(result.image, compress_level=0)
        c_floor = time.process_time() - c0
        size = driftlib.analysis_size(source.size)
        src, before = driftlib.to_array(source, size), driftlib.to_array(image, size)  # cached in a turn
        prev = driftlib.drift_maps(src, before)  # the input's maps: cached from its own turn
        t0 = time.perf_counter()
        after = driftlib.to_array(result.image, size)
        box = driftlib.changed_box(before, after)
        region = driftlib.changed_region(before, after, box)
        maps = driftlib.drift_maps(src, after, prev, before, box)
        driftlib.drift_from_maps(maps, src, after, region)
        t_drift = time.perf_counter() - t0
        if i >= WARMUP:
            bare.append(t_bare)
            full.append(t_full)
            bare_cpu.append(c_bare)
            full_cpu.append(c_full)
            encode.append(t_enc)
            encode_cpu.append(c_enc)
            floor_cpu.append(c_floor)
            drift.append(t_drift)
    b, f = median_ms(bare), median_ms(full)
    print(f"bare backend.edit          median {b:7.1f} ms")
    print(f"studio turn (submit_turn)  median {f:7.1f} ms")
    print(f"  PNG encode (alone)       median {median_ms(encode):7.1f} ms")
    print(f"  drift metric (alone)     median {median_ms(drift):7.1f} ms (output array, region, SSIM/PSNR maps updated in the changed box)")
    print(f"  rest (DB, history, I/O)  ~      {f - b - median_ms(encode) - median_ms(drift):7.1f} ms ")
    overheads = [(x - y) / x for x, y in zip(full, bare)]
    print(f"overhead share of the turn: median {statistics.median(overheads):.1%} "
          f"(of medians: {(f - b) / f:.1%}); target < 30%")
    print(f"turn / bare ratio: {f / b:.2f}x")
    bc, fc = median_ms(bare_cpu), median_ms(full_cpu)
    print(f"CPU time: bare median {bc:.1f} ms, turn median {fc:.1f} ms; overhead share of the CPU time "
          f"{statistics.median([(x - y) / x for x, y in zip(full_cpu, bare_cpu) if x > 0]):.1%} "
          f"(of medians: {(fc - bc) / fc:.1%})")
    # the whole overhead may be at most 3/7 of the bare call for the turn to be < 30% overhead
    print(f"CPU of the PNG encode alone: {median_ms(encode_cpu):.1f} ms (Pillow with no compression: "
          f"{median_ms(floor_cpu):.1f} ms); all the overhead may take {bc * 3 / 7:.1f} ms for < 30%")
    print("load average: %.2f %.2f %.2f" % os.getloadavg())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
