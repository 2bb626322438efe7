"""Reasoning with images: time to first image and total time for a rationale with three image parts,
rendering the parts concurrently vs one after another (the baseline, measured in the same run).

The reasoner is the loopback OpenAI-compatible server with 100 ms latency. Two image backends:
  * remote-like: each part waits a different time (0.3 / 0.6 / 0.9 s), as a remote API or GPU
    server would; concurrency should bring the total close to reasoner + the slowest part.
  * procedural: the studio's in-process CPU renderer (no network), where the GIL and the machine's
    cores bound what concurrency can give.

Run: .venv/bin/python bench/reasoning_bench.py [--repeats 3]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from backends.base import Backend, Capability, GenerationRequest, ImageResult  # noqa: E402

PART_DELAYS = {"oak": 0.3, "maple": 0.6, "ginkgo": 0.9}
RATIONALE = (
    "The question describes pinnate venation. An oak leaf shows it:\n[image: an oak leaf with a central midrib]\n"
    "A maple leaf has veins fanning from the base:\n[image: a maple leaf with five main veins]\n"
    "A ginkgo leaf has forking veins:\n[image: a fan-shaped ginkgo leaf]\nFinal answer: B. Oak leaf"
)
#: the same parts with the slowest first: sequential rendering then waits for it before showing anything
RATIONALE_SLOW_FIRST = (
    "A ginkgo leaf has forking veins:\n[image: a fan-shaped ginkgo leaf]\n"
    "A maple leaf has veins fanning from the base:\n[image: a maple leaf with five main veins]\n"
    "An oak leaf shows pinnate venation:\n[image: an oak leaf with a central midrib]\nFinal answer: B. Oak leaf"
)
QUESTION = "Which leaf has one central vein with side veins branching off? A. Maple B. Oak C. Grass D. Ginkgo"


class RemoteLikeRenderer(Backend):
    """Waits a fixed time per part (keyed by a word of the prompt), like a remote image API."""

    engine = "bench.reasoning_bench:RemoteLikeRenderer"
    capabilities = frozenset({Capability.TEXT_TO_IMAGE})

    def generate(self, request: GenerationRequest) -> ImageResult:
        delay = next((v for k, v in PART_DELAYS.items() if k in request.prompt), 0.5)
        time.sleep(delay)
        return ImageResult(Image.new("RGB", (request.width, request.height), (90, 140, 60)), backend=self.name)


def _studio(tmp: Path, base_url: str):
    from studio.core import Studio
    from studio.settings import load_settings

    cfg = {"backends": {
        "reasoner": {"engine": "openai-chat", "options": {"base_url": base_url, "api_key": "bench",
                                                          "model": "stub-chat", "max_retries": 0}},
        "remote-like": {"engine": RemoteLikeRenderer.engine, "capabilities": ["text-to-image"]},
        "procedural": {"engine": "procedural"},
    }}
    (tmp / "backends.yaml").write_text(yaml.safe_dump(cfg))
    return Studio(load_settings(data_dir=tmp / "data", backends_config=tmp / "backends.yaml"))


def _one_run(runner, stub, backend: str, concurrent: bool, seed: int, rationale: str = RATIONALE) -> tuple[float, float]:
    from studio.reasoning.state import RunRequest

    stub.enqueue(text=rationale)
    request = RunRequest(mode="mm_text", question=QUESTION, reasoner="reasoner", image_backend=backend,
                         concurrent=concurrent, seed=seed, width=512, height=512)
    t0 = time.perf_counter()
    first = None
    state = None
    for state in runner.run(request):
        if first is None and any(i.image for i in state.items if i.kind == "image"):
            first = time.perf_counter() - t0
    total = time.perf_counter() - t0
    assert state is not None and state.status == "done", (state.status, state.notices)
    return first or total, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from studio.reasoning.runner import ReasoningRunner
    from tests.support.openai_server import OpenAIStub

    with tempfile.TemporaryDirectory() as tmp, OpenAIStub() as stub:
        stub.latency = 0.1
        studio = _studio(Path(tmp), stub.base_url)
        runner = ReasoningRunner(studio)
        try:
            _one_run(runner, stub, "procedural", True, 99)  # warm-up: imports, database, first render
            print(f"reasoner: loopback OpenAI-compatible server, latency {stub.latency * 1000:.0f} ms; "
                  f"3 image parts; median of {args.repeats} runs; seeds vary per run")
            print(f"{'image backend':<14}{'part order':<12}{'rendering':<12}{'first image s':>14}{'total s':>10}")
            cases = [("remote-like", "fast-first", RATIONALE), ("remote-like", "slow-first", RATIONALE_SLOW_FIRST),
                     ("procedural", "as written", RATIONALE)]
            for backend, order, rationale in cases:
                results = {}
                for concurrent in (False, True):
                    runs = [_one_run(runner, stub, backend, concurrent, seed, rationale) for seed in range(args.repeats)]
                    first = statistics.median(r[0] for r in runs)
                    total = statistics.median(r[1] for r in runs)
                    results[concurrent] = (first, total)
                    label = "concurrent" if concurrent else "sequential"
                    print(f"{backend:<14}{order:<12}{label:<12}{first:>14.3f}{total:>10.3f}")
                (f_seq, t_seq), (f_con, t_con) = results[False], results[True]
                line = f"  {backend} {order}: total sequential/concurrent = {t_seq / t_con:.2f}x"
                if backend == "remote-like":
                    ideal = stub.latency + max(PART_DELAYS.values())
                    line += (f"; ideal concurrent (reasoner + slowest part) = {ideal:.2f} s, "
                             f"measured/ideal = {t_con / ideal:.2f}; sequential ideal = "
                             f"{stub.latency + sum(PART_DELAYS.values()):.2f} s")
                line += f"; first image sequential/concurrent = {f_seq / f_con:.2f}x"
                print(line)
        finally:
            studio.close()


if __name__ == "__main__":
    main()
