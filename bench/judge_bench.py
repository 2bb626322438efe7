"""Judge benchmarks: a VLM judge batch against a loopback API, and the scene-graph judge on GenEval prompts.

Run: .venv/bin/python bench/judge_bench.py [--only vlm|scene-graph] [--quick]
Each figure is printed with a baseline measured in the same run:
- pairs judged in both orders at concurrency 16 against the loopback OpenAI-compatible server answering
  after 100 ms, as a share of the ideal 16 / 0.1 s = 160 requests/s, and against 16 threads calling the
  chat backend directly with the same two-image messages (no judge machinery);
- the scene-graph judge scoring GenEval's 553 template prompts (images rendered beforehand, not timed),
  against json.loads of the same scene graphs (the floor of reading them).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")


def _serve_stub(latency: float, urls, stop) -> None:
    """Child process: the loopback server, so it does not share the client's interpreter lock."""
    from tests.support.openai_server import OpenAIStub

    with OpenAIStub() as stub:
        stub.latency = latency
        stub.default_chat = lambda body: '{"winner": "A", "reasoning": "sharper and closer to the prompt"}'
        urls.put(stub.base_url)
        stop.wait()


def bench_vlm(pairs: int, concurrency: int = 16, latency: float = 0.1) -> None:
    import multiprocessing as mp

    from PIL import Image

    from backends.base import ChatMessage, ChatRequest
    from studio.core import Studio
    from studio.judges.judges import resolve_judge
    from studio.judges.pairwise import PairTask, judge_pairs
    from studio.judges.rubrics import pair_prompt
    from studio.settings import load_settings

    ctx = mp.get_context("spawn")
    urls, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=_serve_stub, args=(latency, urls, stop), daemon=True)
    server.start()
    base_url = urls.get(timeout=60)
    a, b = Image.new("RGB", (64, 64), (200, 30, 30)), Image.new("RGB", (64, 64), (30, 30, 200))
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "b.yaml"
        cfg.write_text(f"backends:\n  judge:\n    engine: openai-chat\n    options: {{base_url: '{base_url}', "
                       f"api_key: x, model: stub-vlm, timeout: 10}}\n")
        studio = Studio(load_settings(data_dir=Path(tmp) / "d", backends_config=cfg))
        backend = studio.backends.get("judge")
        n = 2 * pairs
        per = n // concurrency
        text = pair_prompt("a red square", "overall", 0)

        def direct():
            for _ in range(per):
                backend.chat(ChatRequest(messages=[ChatMessage("user", text, [a, b])], temperature=0.0, max_tokens=512))
        threads = [threading.Thread(target=direct) for _ in range(concurrency)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        direct_rate = per * concurrency / (time.perf_counter() - t0)
        judge = resolve_judge(studio.backends, "judge")
        tasks = [PairTask(f"p{i}", "a red square", a, b) for i in range(pairs)]
        t0 = time.perf_counter()
        results = judge_pairs(judge, tasks, "overall", concurrency)
        dt = time.perf_counter() - t0
        studio.close()
    stop.set()
    server.join(10)
    ideal = concurrency / latency
    rate = n / dt
    bad = sum(r.status != "ok" for r in results)
    print(f"VLM judge, {pairs} pairs in both orders at concurrency {concurrency}, {latency * 1000:.0f} ms server "
          f"latency: {rate:.1f} req/s ({n} requests, {bad} without verdict, {dt:.1f} s) = {rate / ideal:.2f} of the "
          f"ideal {ideal:.0f} req/s")
    print(f"baseline: {concurrency} threads calling the chat backend directly: {direct_rate:.1f} req/s "
          f"= {direct_rate / ideal:.2f} of ideal; judge/direct = {rate / direct_rate:.2f}")


def bench_scene_graph(size: int = 256) -> None:
    from backends.base import GenerationRequest
    from backends.procedural import ProceduralBackend
    from studio.judges import geneval
    from studio.judges.judges import JudgeItem
    from studio.judges.rules import SceneGraphJudge

    prompts = geneval.template_prompts(seed=0)
    engine = ProceduralBackend(name="procedural")
    images = [engine.generate(GenerationRequest(prompt=m["prompt"], width=size, height=size, seed=1)).image
              for m in prompts]
    judge = SceneGraphJudge()
    t0 = time.perf_counter()
    scores = [judge.score(JudgeItem(m["prompt"], img, metadata=m), "geneval") for m, img in zip(prompts, images)]
    dt = time.perf_counter() - t0
    t0 = time.perf_counter()
    for img in images:
        json.loads(img.info["scene_graph"])
    base = time.perf_counter() - t0
    passed = sum(s.overall == 1.0 for s in scores)
    print(f"scene-graph judge on {len(prompts)} GenEval-template prompts: {dt:.2f} s ({len(prompts) / dt:,.0f} "
          f"images/s, {passed} pass); baseline json.loads of the scene graphs: {base:.3f} s ({dt / base:.0f}x)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=["vlm", "scene-graph"])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.only in (None, "scene-graph"):
        bench_scene_graph()
    if args.only in (None, "vlm"):
        bench_vlm(160 if args.quick else 480)


if __name__ == "__main__":
    main()
