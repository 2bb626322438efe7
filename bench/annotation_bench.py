"""Annotation: vote throughput through the app's HTTP API against a no-op endpoint of the same app,
and leaderboard time for many votes.

    .venv/bin/python bench/annotation_bench.py [--clients 32] [--requests 25] [--votes 100000]
                                               [--models 30] [--bootstrap 1000]

1. The real app (all tabs) runs in its own process on a temp data folder (SQLite) with one extra
   endpoint, ``noop``, taking the same inputs as a vote and returning one text. ``--clients`` threads,
   each an annotator, call ``vote_left`` (store the vote, then assign and return the next item with its
   two 512×512 images) or ``noop``, ``--requests`` times each, alternating for ``--rounds`` rounds so
   drifting machine load hits both alike. Reported: requests/s and p50/p99 latency per endpoint and the ratio
   vote/no-op throughput (target >= 0.8).
2. Bradley–Terry with ``--bootstrap`` rounds on ``--votes`` synthetic battles among ``--models``
   models, against one fit of the textbook approach in the same run (logistic regression by IRLS on
   every battle duplicated, ties split), which the aggregated fit replaces.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SERVER = r"""
import sys, gradio as gr
sys.path.insert(0, {root!r})
from studio.core import Studio
from studio.settings import load_settings
from studio.ui.app import CSS, build_app
studio = Studio(load_settings(data_dir={data!r}))
demo = build_app(studio)
with demo:
    ins = [gr.Textbox(visible=False) for _ in range(6)]
    out = gr.Textbox(visible=False)
    gr.Button(visible=False).click(lambda *a: "ok", ins, out, api_name="noop", concurrency_limit=None)
demo.queue(default_concurrency_limit=8)
demo.launch(server_name="127.0.0.1", server_port={port}, quiet=True, css=CSS)
"""


def make_batch(data: Path, items: int, overlap: int) -> str:
    """A batch of ``items`` text-to-image comparisons with 512×512 blocky images."""
    from PIL import Image

    from studio.annotation import service
    from studio.core import Studio
    from studio.settings import load_settings

    studio = Studio(load_settings(data_dir=data))
    rng = np.random.default_rng(0)
    batch_id = service.create_batch(studio, "bench", overlap=overlap)
    for i in range(items):
        shas = []
        for _ in range(2):
            blocks = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
            img = Image.fromarray(np.kron(blocks, np.ones((32, 32, 1), dtype=np.uint8)))
            shas.append(studio.samples.store_image(img))
        service.add_comparison(studio, batch_id, prompt=f"prompt {i}", task="text-to-image",
                               output_a=shas[0], model_a="bench-model-a", output_b=shas[1], model_b="bench-model-b")
    studio.close()
    return batch_id


def call(client: httpx.Client, url: str, api: str, data: list) -> list:
    r = client.post(f"{url}/gradio_api/call/{api}", json={"data": data})
    r.raise_for_status()
    event_id = r.json()["event_id"]
    body = client.get(f"{url}/gradio_api/call/{api}/{event_id}").text
    event = None
    for line in body.splitlines():
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:") and event in ("complete", "error"):
            if event == "error":
                raise RuntimeError(f"{api}: {line}")
            return json.loads(line[5:])
    raise RuntimeError(f"{api}: no result")


def load(url: str, api: str, clients: int, requests: int, batch_id: str, phase: str) -> tuple[float, list[float]]:
    """Run ``clients`` threads of ``requests`` calls; returns (requests/s, latencies in s)."""
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)
    errors: list[str] = []

    def worker(k: int) -> None:
        name = f"{phase}-{k}"
        mine = []
        with httpx.Client(timeout=60) as client:
            token = call(client, url, "annotate_start", [name, batch_id])[9] if api == "vote_left" else "x"
            barrier.wait()
            for _ in range(requests):
                t0 = time.perf_counter()
                try:
                    out = call(client, url, api, [name, batch_id, token, None, None, None])
                except Exception as exc:  # noqa: BLE001 - reported below
                    errors.append(str(exc))
                    return
                mine.append(time.perf_counter() - t0)
                if api == "vote_left":
                    token = out[6]
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    [t.start() for t in threads]
    barrier.wait()
    t0 = time.perf_counter()
    [t.join() for t in threads]
    wall = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests, first: {errors[0]}")
    return len(latencies) / wall, latencies


def pct(xs: list[float], q: float) -> float:
    return float(np.quantile(np.asarray(xs), q)) * 1000


def bench_http(args) -> None:
    from tests.support.postgres import free_port

    data = Path(tempfile.mkdtemp(prefix="annotation-bench-"))
    batch_id = make_batch(data, items=args.requests + 4, overlap=args.rounds * args.clients + 1)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "STUDIO_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([sys.executable, "-c", SERVER.format(root=str(ROOT), data=str(data), port=port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                if httpx.get(url + "/config", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        results = {}
        for r in range(args.rounds):
            for api in ("noop", "vote_left"):
                phase = f"{api}{r}"
                rate, lat = load(url, api, args.clients, args.requests, batch_id, phase)
                results.setdefault(api, []).append((rate, lat))
                print(f"round {r + 1} {api:9s}: {rate:7.1f} req/s   p50 {pct(lat, .5):7.1f} ms   "
                      f"p99 {pct(lat, .99):7.1f} ms   ({len(lat)} requests, {args.clients} clients)")
        summary = {}
        for api, runs in results.items():
            lat = [x for _, run in runs for x in run]
            summary[api] = statistics.fmean(rate for rate, _ in runs)
            print(f"{api:9s} overall: {summary[api]:7.1f} req/s   p50 {pct(lat, .5):7.1f} ms   p99 {pct(lat, .99):7.1f} ms")
        print(f"vote path / no-op throughput: {summary['vote_left'] / summary['noop']:.2f}  (target >= 0.8)")
    finally:
        proc.kill()
        proc.wait()


def irls_duplicated(a: np.ndarray, b: np.ndarray, outcome: np.ndarray, m: int, ridge: float) -> np.ndarray:
    """Textbook BT: logistic regression on every battle twice (ties: y=1 once, y=0 once), IRLS."""
    n = len(a)
    X = np.zeros((2 * n, m))
    X[np.arange(2 * n), np.concatenate([a, a])] = 1.0
    X[np.arange(2 * n), np.concatenate([b, b])] = -1.0
    y = np.concatenate([(outcome != 1).astype(float), (outcome == 0).astype(float)])
    beta = np.zeros(m)
    for _ in range(50):
        p = 1 / (1 + np.exp(-X @ beta))
        step = np.linalg.solve(X.T @ (X * (p * (1 - p))[:, None]) + 2 * ridge * np.eye(m), X.T @ (y - p) - 2 * ridge * beta)
        beta += step
        if np.abs(step).max() < 1e-10:
            break
    return 400 * beta / math.log(10) + 1000


def bench_leaderboard(args) -> None:
    from studio.annotation.battles import build_battles
    from studio.annotation.ranking import RIDGE, bradley_terry, online_elo

    rng = np.random.default_rng(1)
    strength = rng.normal(0, 1, args.models)
    i = rng.integers(0, args.models, args.votes)
    j = (i + rng.integers(1, args.models, args.votes)) % args.models
    p = 1 / (1 + np.exp(-(strength[i] - strength[j])))
    u = rng.random(args.votes)
    winner = np.where(u < 0.1, "tie", np.where(u < 0.15, "tie (bothbad)",
                                               np.where(rng.random(args.votes) < p, "model_a", "model_b")))
    rows = [{"model_a": f"m{x}", "model_b": f"m{y}", "winner": w} for x, y, w in zip(i, j, winner)]
    t0 = time.perf_counter()
    battles = build_battles(rows)
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    board = bradley_terry(battles, bootstrap=args.bootstrap, seed=0)
    t_bt = time.perf_counter() - t0
    t0 = time.perf_counter()
    online_elo(battles)
    t_elo = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = irls_duplicated(battles.a, battles.b, battles.outcome, len(battles.models), RIDGE)
    t_ref = time.perf_counter() - t0
    gap = float(np.max(np.abs(ref - board.rating)))
    print(f"leaderboard: {args.votes:,} votes, {args.models} models: battles built in {t_build:.2f} s; "
          f"Bradley–Terry + {args.bootstrap} bootstrap rounds in {t_bt:.2f} s; online Elo in {t_elo:.2f} s")
    print(f"baseline (duplicated-battle logistic regression, one fit, no bootstrap): {t_ref:.2f} s; "
          f"ours per fit: {t_bt / (args.bootstrap + 1) * 1000:.1f} ms; speed-up per fit "
          f"{t_ref / (t_bt / (args.bootstrap + 1)):.0f}x; max rating difference {gap:.4f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--requests", type=int, default=10, help="requests per client per phase")
    ap.add_argument("--rounds", type=int, default=3, help="alternating no-op / vote phases")
    ap.add_argument("--votes", type=int, default=100_000)
    ap.add_argument("--models", type=int, default=30)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--skip-http", action="store_true")
    ap.add_argument("--skip-leaderboard", action="store_true")
    args = ap.parse_args()
    if not args.skip_leaderboard:
        bench_leaderboard(args)
    if not args.skip_http:
        bench_http(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
