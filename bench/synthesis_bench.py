"""Synthesis benchmarks: template prompts/s (one core), LLM composition throughput, dataset import speed.

Run: .venv/bin/python bench/synthesis_bench.py [--quick]
Each figure is printed with a baseline measured in the same run:
- template rows/s against formatting one fixed template string in a loop (the cost floor of any template);
- LLM batch throughput at concurrency 16 against the loopback OpenAI-compatible server answering after
  100 ms, as a ratio of the ideal 16 / 0.1 s = 160 requests/s, and against 16 threads calling the chat
  backend directly (no batch machinery);
- importing 100,000 ShareGPT-4o-Image rows, against json.loads of the same file.
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


def bench_templates(n: int) -> None:
    from studio.settings import ASSETS_DIR
    from studio.synthesis.dedup import DedupSettings
    from studio.synthesis.planner import Planner, SynthesisRequest
    from studio.taxonomy import load_taxonomies

    planner = Planner(load_taxonomies(ASSETS_DIR / "taxonomy"))
    req = SynthesisRequest(nodes=["opengpt4o/gen", "opengpt4o/edit"], count=n, seed=1, dedup=DedupSettings(near="off"))
    planner.plan(SynthesisRequest(nodes=["opengpt4o/gen"], count=50, seed=0, dedup=DedupSettings(near="off")))
    t0 = time.perf_counter()
    rows = planner.plan(req).rows
    dt = time.perf_counter() - t0
    req2 = SynthesisRequest(nodes=["opengpt4o/gen", "opengpt4o/edit"], count=n, seed=1,
                            dedup=DedupSettings(near="minhash", threshold=0.9))
    t0 = time.perf_counter()
    rows2 = planner.plan(req2)
    dt2 = time.perf_counter() - t0
    tpl = "A photo of {a} {rel} {b}, set in {scene}, lit by {light}."
    t0 = time.perf_counter()
    for i in range(n):
        tpl.format(a="a cat", rel="left of", b="a dog", scene="a beach", light=str(i))
    base = time.perf_counter() - t0
    print(f"template rows (exact dedup): {len(rows) / dt:,.0f} rows/s ({len(rows):,} rows in {dt:.2f} s)")
    print(f"template rows (exact + MinHash dedup): {len(rows2.rows) / dt2:,.0f} rows/s, {len(rows2.dedup.dropped)} dropped")
    print(f"baseline str.format of one template: {n / base:,.0f} /s -> planner costs {dt / base:.0f}x a bare format")


def _serve_stub(latency: float, urls, stop) -> None:
    """Child process: the loopback server, so it does not share the client's interpreter lock."""
    from tests.support.openai_server import OpenAIStub

    with OpenAIStub() as stub:
        stub.latency = latency
        stub.default_chat = lambda body: "A red bus parked to the left of a tall green tree on a quiet street"
        urls.put(stub.base_url)
        stop.wait()


def bench_llm(n: int, concurrency: int = 16, latency: float = 0.1) -> None:
    from backends.base import ChatMessage, ChatRequest
    from studio.core import Studio
    from studio.settings import load_settings
    from studio.synthesis.batches import BatchOptions, create_batch, run_batch
    from studio.synthesis.dedup import DedupSettings
    from studio.synthesis.planner import SynthesisRequest
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    urls, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=_serve_stub, args=(latency, urls, stop), daemon=True)
    server.start()
    base_url = urls.get(timeout=60)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "b.yaml"
        cfg.write_text(f"backends:\n  stub:\n    engine: openai-chat\n    options: {{base_url: '{base_url}', "
                       f"api_key: x, model: stub-chat, timeout: 10}}\n")
        studio = Studio(load_settings(data_dir=Path(tmp) / "d", backends_config=cfg))
        backend = studio.backends.get("stub")
        # baseline: 16 threads calling the backend directly
        per = n // concurrency
        def direct():
            for _ in range(per):
                backend.chat(ChatRequest(messages=[ChatMessage("user", "hi there friend")]))
        threads = [threading.Thread(target=direct) for _ in range(concurrency)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        direct_rate = per * concurrency / (time.perf_counter() - t0)
        req = SynthesisRequest(nodes=["opengpt4o/gen"], count=n, seed=2, method="llm", dedup=DedupSettings(near="off"))
        bid = create_batch(studio, req, BatchOptions(chat_backend="stub", concurrency=concurrency, dataset="bench"))
        t0 = time.perf_counter()
        st = run_batch(studio, bid)
        dt = time.perf_counter() - t0
        studio.close()
    stop.set()
    server.join(10)
    ideal = concurrency / latency
    rate = st.llm_calls / dt
    print(f"LLM batch at concurrency {concurrency}, {latency * 1000:.0f} ms server latency: {rate:.1f} req/s "
          f"({st.done} done, {st.failed} failed in {dt:.1f} s) = {rate / ideal:.2f} of the ideal {ideal:.0f} req/s")
    print(f"baseline: {concurrency} threads calling the chat backend directly: {direct_rate:.1f} req/s "
          f"= {direct_rate / ideal:.2f} of ideal; batch/direct = {rate / direct_rate:.2f}")


def bench_import(n: int, distinct_images: int = 1000) -> None:
    from PIL import Image

    from studio.core import Studio
    from studio.settings import load_settings
    from studio.synthesis.importer import import_dataset

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "ds"
        (d / "images").mkdir(parents=True)
        for i in range(distinct_images):
            Image.new("RGB", (16, 16), (i % 256, i // 256, 0)).save(d / "images" / f"{i}.png")
        rows = [{"input_prompt": f"prompt {i}", "output_image": f"images/{i % distinct_images}.png"} for i in range(n)]
        text = json.dumps(rows)
        (d / "text_to_image.json").write_text(text)
        t0 = time.perf_counter()
        json.loads(text)
        base = time.perf_counter() - t0
        studio = Studio(load_settings(data_dir=Path(tmp) / "data"))
        studio.db  # migrate before timing
        t0 = time.perf_counter()
        rep = import_dataset(studio, d)
        dt = time.perf_counter() - t0
        studio.close()
    print(f"import {rep.imported:,} rows ({rep.images:,} distinct images) into SQLite: {dt:.1f} s = "
          f"{rep.imported / dt:,.0f} rows/s; baseline json.loads of the file: {base:.2f} s ({dt / base:.0f}x)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller sizes")
    ap.add_argument("--only", choices=["templates", "llm", "import"], help="run one of the three")
    args = ap.parse_args()
    if args.only in (None, "templates"):
        bench_templates(5_000 if args.quick else 20_000)
    if args.only in (None, "llm"):
        bench_llm(320 if args.quick else 960)
    if args.only in (None, "import"):
        bench_import(20_000 if args.quick else 100_000)


if __name__ == "__main__":
    main()
