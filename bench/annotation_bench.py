"""Annotation: vote throughput through the app's HTTP API against a no-op endpoint of the same app,
and leaderboard time for many votes.

    .venv/bin/python bench/annotation_bench.py [--clients 32] [--requests 25] [--client-procs 4]
                                               [--votes 100000] [--models 30] [--bootstrap 1000]

1. The real app (all tabs) runs in its own process on a temp data folder (SQLite) with one extra
   endpoint, ``noop``: registered like the vote buttons (the vote's very input components, the same
   handler signature with the request and the sign-in profile, sync or async as the vote handler is,
   behind the same access-policy guard as the vote, which every event of the app passes, with the
   vote's concurrency limit and postprocessing setting) but returning one text without doing
   anything. ``--clients`` annotators call ``vote_left`` (store the vote, then assign and return the
   next item with its two 512×512 images) or ``noop``, ``--requests`` times each, alternating for
   ``--rounds`` rounds so drifting machine load hits both alike. Reported: requests/s and p50/p99
   latency per endpoint, the server's CPU time per request, and the ratio vote/no-op throughput
   (targets: ratio >= 0.6 at 32 clients, vote p99 under 500 ms).

   Each client is one annotator with one session for the whole run, as a browser tab (or a
   ``gradio_client.Client``) is: it sends the same ``session_hash`` with every call, in the no-op and
   the vote phases alike, and each phase starts with an untimed call (``annotate_start`` for voters,
   which also resumes the annotator's open item, one ``noop`` call otherwise). Gradio builds a
   session's state from the whole app's config on its first event, which costs the server ~25 ms
   here (one core) and is no part of a vote; the batch has items for every annotator's votes in every
   round.
   The clients are threads in ``--client-procs`` worker processes with keep-alive ``http.client``
   connections, so the load generator stays cheap (its CPU time is printed next to the server's) and
   never waits on one interpreter lock with 32 threads.
2. Bradley–Terry with ``--bootstrap`` rounds on ``--votes`` synthetic battles among ``--models``
   models, against one fit of the textbook approach in the same run (logistic regression by IRLS on
   every battle duplicated, ties split), which the aggregated fit replaces.
"""
from __future__ import annotations

import argparse
import http.client
import json
import math
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SERVER = r"""
import inspect, sys, gradio as gr
sys.path.insert(0, {root!r})
from studio.core import Studio
from studio.settings import load_settings
from studio.ui.access import guard
from studio.ui.app import CSS, build_app, serve
studio = Studio(load_settings(data_dir={data!r}))
demo = build_app(studio)
by_id = {{b.elem_id: b for b in demo.blocks.values() if getattr(b, "elem_id", None)}}
vote_inputs = [by_id[k] for k in ("annotate-name", "annotate-batch", "annotate-token", "annotate-criterion-0",
                                  "annotate-criterion-1", "annotate-criterion-2")]


def noop(name, batch, token, c1, c2, c3, request: gr.Request, profile: gr.OAuthProfile | None):
    return "ok"


async def async_noop(name, batch, token, c1, c2, c3, request: gr.Request, profile: gr.OAuthProfile | None):
    return "ok"


vote = next(fn for fn in demo.fns.values() if fn.api_name == "vote_left")
# an async handler runs on the event loop, a plain one in a worker thread: the no-op is the same kind
noop_fn = async_noop if inspect.iscoroutinefunction(vote.fn) else noop
with demo:
    gr.Button(visible=False).click(guard(studio, "annotate", noop_fn), vote_inputs, by_id["annotate-status"], api_name="noop",
                                   concurrency_limit=vote.concurrency_limit, postprocess=vote.postprocess)
serve(demo.queue(default_concurrency_limit=8), server_name="127.0.0.1", server_port={port}, quiet=True, css=CSS)
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


class Session:
    """One client: a keep-alive connection and one Gradio session, as a browser tab has."""

    def __init__(self, port: int, session_hash: str | None = None) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.session_hash = session_hash or uuid.uuid4().hex[:12]

    def call(self, api: str, data: list) -> list:
        body = json.dumps({"data": data, "session_hash": self.session_hash})
        try:
            self.conn.request("POST", f"/gradio_api/call/{api}", body, {"Content-Type": "application/json"})
            r = self.conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # the server closed a keep-alive connection left idle (waiting for the other clients): reconnect
            self.conn.close()
            self.conn.request("POST", f"/gradio_api/call/{api}", body, {"Content-Type": "application/json"})
            r = self.conn.getresponse()
        text = r.read()
        if r.status != 200:
            raise RuntimeError(f"{api}: HTTP {r.status} {text[:200]!r}")
        event_id = json.loads(text)["event_id"]
        self.conn.request("GET", f"/gradio_api/call/{api}/{event_id}")
        r = self.conn.getresponse()
        event = None
        for line in r.read().decode().splitlines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                if event == "error":
                    raise RuntimeError(f"{api}: {line}")
                return json.loads(line[5:])
        raise RuntimeError(f"{api}: no result")


def _client_proc(port: int, api: str, clients: list[tuple[str, str]], requests: int, batch_id: str, barrier,
                 results) -> None:
    """A worker process: one thread per (annotator name, session); sends (start, end, latencies, cpu,
    errors) back."""
    out: list = []
    lock = threading.Lock()

    def client(name: str, session_hash: str) -> None:
        latencies, error, t_start = [], None, None
        try:
            session = Session(port, session_hash)
            args = [name, batch_id, "x", None, None, None]
            if api == "vote_left":
                args[2] = session.call("annotate_start", [name, batch_id])[9]
            else:
                session.call(api, args)  # opens the session, untimed
            barrier.wait()
            t_start = time.monotonic()
            for _ in range(requests):
                t0 = time.monotonic()
                res = session.call(api, args)
                latencies.append(time.monotonic() - t0)
                if api == "vote_left":
                    args[2] = res[5]
        except Exception as exc:  # noqa: BLE001 - reported by the parent
            error = f"{type(exc).__name__}: {exc}"
            if t_start is None:
                barrier.abort()
        with lock:
            out.append((t_start, time.monotonic(), latencies, error))

    cpu0 = time.process_time()
    threads = [threading.Thread(target=client, args=c) for c in clients]
    [t.start() for t in threads]
    [t.join() for t in threads]
    results.put((out, time.process_time() - cpu0))


def _server_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(port: int, server_pid: int, api: str, clients: int | list[tuple[str, str]], requests: int, procs: int,
         batch_id: str, phase: str = "load") -> tuple[float, list[float], float, float]:
    """``clients`` (annotator name, session hash) pairs, or that many new ones, in ``procs``
    processes, ``requests`` calls each; returns (requests/s, latencies in s, server CPU ms per
    request, client CPU ms per request)."""
    if isinstance(clients, int):
        clients = [(f"{phase}-{k}", uuid.uuid4().hex[:12]) for k in range(clients)]
    ctx = mp.get_context("fork")
    barrier, results = ctx.Barrier(len(clients) + 1), ctx.Queue()
    workers = [ctx.Process(target=_client_proc, args=(port, api, clients[k::procs], requests, batch_id, barrier, results))
               for k in range(procs)]
    [w.start() for w in workers]
    try:
        barrier.wait(timeout=600)  # every session is open: the timed part starts
    except threading.BrokenBarrierError:
        pass  # a client failed to open its session; its error comes with the results
    cpu0 = _server_cpu(server_pid)
    rows, client_cpu = [], 0.0
    for _ in workers:
        out, cpu = results.get()
        rows += out
        client_cpu += cpu
    server_cpu = _server_cpu(server_pid) - cpu0
    [w.join() for w in workers]
    errors = [e for *_, e in rows if e]
    if errors:
        raise RuntimeError(f"{len(errors)} clients failed, first: {errors[0]}")
    latencies = [x for *_, lat, _ in rows for x in lat]
    wall = max(end for _, end, _, _ in rows) - min(start for start, *_ in rows)
    n = len(latencies)
    # the clients' CPU figure includes their untimed session-opening calls (one per client)
    return n / wall, latencies, server_cpu * 1000 / n, client_cpu * 1000 / (n + len(clients))


def pct(xs: list[float], q: float) -> float:
    return float(np.quantile(np.asarray(xs), q)) * 1000


def bench_http(args) -> None:
    import httpx

    from tests.support.postgres import free_port

    data = Path(tempfile.mkdtemp(prefix="annotation-bench-"))
    # every annotator votes in every round: enough items for all of their votes, room for all of them
    batch_id = make_batch(data, items=args.rounds * args.requests + 4, overlap=args.clients + 1)
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
        clients = [(f"annotator-{k}", uuid.uuid4().hex[:12]) for k in range(args.clients)]
        for r in range(args.rounds):
            for api in ("noop", "vote_left"):
                rate, lat, server_ms, client_ms = load(port, proc.pid, api, clients, args.requests,
                                                       args.client_procs, batch_id)
                results.setdefault(api, []).append((rate, lat, server_ms))
                print(f"round {r + 1} {api:9s}: {rate:7.1f} req/s   p50 {pct(lat, .5):7.1f} ms   "
                      f"p99 {pct(lat, .99):7.1f} ms   server CPU {server_ms:5.1f} ms/req   "
                      f"clients' CPU {client_ms:4.1f} ms/req   ({len(lat)} requests, {args.clients} clients)")
        summary = {}
        for api, runs in results.items():
            lat = [x for _, run, _ in runs for x in run]
            summary[api] = statistics.fmean(rate for rate, _, _ in runs)
            cpu = statistics.fmean(ms for *_, ms in runs)
            print(f"{api:9s} overall: {summary[api]:7.1f} req/s   p50 {pct(lat, .5):7.1f} ms   "
                  f"p99 {pct(lat, .99):7.1f} ms   server CPU {cpu:5.1f} ms/req")
        print(f"vote path / no-op throughput: {summary['vote_left'] / summary['noop']:.2f}  (target >= 0.6; "
              f"vote p99 target < 500 ms)")
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
    ap.add_argument("--requests", type=int, default=25, help="requests per client per phase")
    ap.add_argument("--client-procs", type=int, default=4, help="processes the clients are spread over")
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
