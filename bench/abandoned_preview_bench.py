"""What abandoned synthesis previews cost other users: p50 of a light request, idle vs after 3 maximal
previews were started and abandoned (their tabs closed after the first progress message).

Run: .venv/bin/python bench/abandoned_preview_bench.py [--requests 60] [--rounds 3]
The app runs in its own process (as `python app.py` would); the client sends every request the way a
browser does (queue join + event stream). Printed per phase: p50/p90 of the light request (batch status
with no batch picked), the server's CPU seconds during the phase, and the ratio to idle (goal: p50 <= 2x idle).
For reference, the same 3 previews left running to completion while the light requests are measured.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SERVER = """
import sys, tempfile
sys.path.insert(0, {root!r})
from tests.support.live_app import launched_app
with launched_app(tempfile.mkdtemp(), auth_mode="password", users={users!r}) as (url, studio):
    print(url, flush=True)
    sys.stdin.read()
"""
# the largest preview the tab allows, with the heaviest method (LLM meta-prompts) and MinHash dedup
MAXIMAL = [["opengpt4o", "sharegpt4o"], 1000, 0, "llm", "default", 0.5, "minhash", 0.9, False, False, ""]


# one light user (an admin watching batches) and three people who each abandon a preview: a preview is
# limited to one at a time per person, so three abandoned previews take three people
USERS = "light:pw-light:admin," + ",".join(f"u{k}:pw{k}" for k in range(3))


def signed_in(url: str, user: str, password: str):
    import httpx

    client = httpx.Client(timeout=httpx.Timeout(60, read=60))
    client.post(f"{url}/login", data={"username": user, "password": password}).raise_for_status()
    return client


def previews(url: str, index: int):
    from tests.support.sse_queue import QueueCall

    return [QueueCall(url, index, MAXIMAL, client=signed_in(url, f"u{k}", f"pw{k}")) for k in range(3)]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def light_latencies(url: str, index: int, n: int) -> list[float]:
    from tests.support.sse_queue import QueueCall

    out = []
    client = signed_in(url, "light", "pw-light")  # one tab: one connection pool, one session
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            QueueCall(url, index, [None], client=client, session="light-user").result()
            out.append(time.perf_counter() - t0)
    finally:
        client.close()
    return out


def phase(name: str, url: str, pid: int, light: int, n: int, idle_p50: float | None) -> float:
    c0 = cpu_seconds(pid)
    lat = light_latencies(url, light, n)
    cpu = cpu_seconds(pid) - c0
    p50 = statistics.median(lat) * 1000
    p90 = sorted(lat)[int(0.9 * (len(lat) - 1))] * 1000
    ratio = f"   {p50 / idle_p50:.2f}x idle" if idle_p50 else ""
    print(f"{name:<42} p50 {p50:7.1f} ms   p90 {p90:7.1f} ms   server CPU {cpu:5.2f} s{ratio}")
    return p50


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    from tests.support.sse_queue import fn_index

    proc = subprocess.Popen([sys.executable, "-c", SERVER.format(root=str(ROOT), users=USERS)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd=tempfile.mkdtemp())
    try:
        url = proc.stdout.readline().strip().rstrip("/")
        client = signed_in(url, "light", "pw-light")
        light, preview = (fn_index(url, "synthesis_status", client=client),
                          fn_index(url, "synthesis_preview", client=client))
        client.close()
        light_latencies(url, light, 5)  # warm-up
        t0 = time.perf_counter()
        previews(url, preview)[0].result()
        print(f"one maximal preview alone (1,000 LLM rows, MinHash): {time.perf_counter() - t0:.2f} s")
        idles, abandoned = [], []
        for r in range(1, args.rounds + 1):  # alternate, so that drifting machine load hits both alike
            idles.append(phase(f"round {r} idle", url, proc.pid, light, args.requests, None))
            calls = previews(url, preview)
            for call in calls:
                call.next_message()  # planning has started
            for call in calls:
                call.close()  # the tabs go away
            abandoned.append(phase(f"round {r} 3 maximal previews abandoned", url, proc.pid, light, args.requests,
                                   idles[-1]))
            time.sleep(1)
        idle = statistics.median(idles)
        print(f"median p50: idle {idle:.1f} ms, abandoned {statistics.median(abandoned):.1f} ms "
              f"-> {statistics.median(abandoned) / idle:.2f}x idle (goal <= 2x)")
        calls = previews(url, preview)
        for call in calls:
            call.next_message()
        phase("reference: 3 previews kept running", url, proc.pid, light, args.requests, idle)
        for call in calls:
            call.close()
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
