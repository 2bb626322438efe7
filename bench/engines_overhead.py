"""Studio overhead of the diffusers backend: the same tiny random SD pipeline called bare and through
``DiffusersText2Image`` (cache lookup, LoRA/scheduler bookkeeping, step callback, result packing), in the
same run, alternating. Prints per-run times, medians, minima (the least noisy on a shared machine) and the ratios (target: backend / bare <= 1.05).

    .venv/bin/python bench/engines_overhead.py [--runs 15] [--steps 4] [--size 64]
"""
from __future__ import annotations

import argparse
import inspect
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()

    import torch
    from diffusers import StableDiffusionPipeline

    from backends.base import GenerationRequest
    from backends.diffusers_engine import DiffusersText2Image
    from backends.model_cache import ModelCache
    from tests.support.tiny_models import build_tiny_sd

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        path = build_tiny_sd(Path(tmp) / "sd")
        bare = StableDiffusionPipeline.from_pretrained(str(path), local_files_only=True).to("cpu")
        bare.set_progress_bar_config(disable=True)
        backend = DiffusersText2Image("bench", model=str(path), cache=ModelCache(2**32), device="cpu")
        prompt = "a red cube"

        def run_bare() -> float:
            start = time.perf_counter()
            with torch.inference_mode():
                bare(prompt=prompt, width=args.size, height=args.size, num_inference_steps=args.steps,
                     generator=torch.Generator().manual_seed(0), output_type="pil")
            return time.perf_counter() - start

        def run_backend() -> float:
            start = time.perf_counter()
            backend.generate(GenerationRequest(prompt, width=args.size, height=args.size, steps=args.steps,
                                               seed=0, progress=lambda s, n: None))
            return time.perf_counter() - start

        run_bare(), run_backend()  # warm-up: first calls allocate and load
        bare_times, backend_times = [], []
        for i in range(args.runs):
            pair = (run_bare, run_backend) if i % 2 == 0 else (run_backend, run_bare)
            results = {fn.__name__: fn() for fn in pair}
            bare_times.append(results["run_bare"])
            backend_times.append(results["run_backend"])
            print(f"run {i + 1:2d}: bare {results['run_bare'] * 1000:7.1f} ms   "
                  f"backend {results['run_backend'] * 1000:7.1f} ms")
        # the backend's own bookkeeping, measured without the model: the pipeline call returns at once
        from types import SimpleNamespace

        from PIL import Image

        entry = backend.entry()
        real_pipe = entry.value
        canned = SimpleNamespace(images=[Image.new("RGB", (args.size, args.size))])

        class NoModel(type(real_pipe)):  # same signature, no compute
            def __call__(self, **kwargs):
                callback = kwargs.get("callback_on_step_end")
                for step in range(kwargs["num_inference_steps"]):  # the per-step hook still runs
                    callback(self, step, 0, {})
                return canned

        NoModel.__call__.__signature__ = inspect.signature(type(real_pipe).__call__)
        real_pipe.__class__ = NoModel
        book = []
        for _ in range(200):
            book.append(run_backend())
        real_pipe.__class__ = NoModel.__mro__[1]
    b, s = statistics.median(bare_times), statistics.median(backend_times)
    overhead = statistics.median(book)
    bmin, smin = min(bare_times), min(backend_times)
    print(f"{args.steps} steps, {args.size}x{args.size}, tiny SD, CPU, 1 thread, {args.runs} alternating runs")
    print(f"bare:    median {b * 1000:.1f} ms   min {bmin * 1000:.1f} ms")
    print(f"backend: median {s * 1000:.1f} ms   min {smin * 1000:.1f} ms")
    print(f"ratio backend/bare: median {s / b:.3f}   min {smin / bmin:.3f}  (target <= 1.05)")
    print(f"backend bookkeeping alone (model stubbed, step hooks kept, 200 calls): median {overhead * 1000:.2f} ms "
          f"= {overhead / bmin * 100:.1f}% of the fastest bare call -> ratio {(bmin + overhead) / bmin:.3f}")


if __name__ == "__main__":
    main()
