"""Time from `python app.py` to the first HTTP 200 of the page, against a bare Gradio Blocks app
with one textbox, started the same way in the same run. Prints each run, the medians and the ratio
(target: studio / bare < 1.5), and the CPU time each process used until then (stopped at once after its first
200), which other jobs on a shared machine disturb far less than the wall clock. Load averages are printed
before and after.

    .venv/bin/python bench/startup_bench.py [--runs 5]
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BARE = (
    "import gradio as gr\n"
    "with gr.Blocks() as demo:\n"
    "    gr.Textbox()\n"
    "demo.launch()\n"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def time_to_200(argv: list[str], env: dict[str, str], timeout: float = 120.0) -> tuple[float, float]:
    """(wall seconds to the first 200, CPU seconds of the process by the time it was stopped)."""
    port = free_port()
    env = {**env, "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1"}
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - start < timeout:
            if proc.poll() is not None:
                raise RuntimeError(f"{argv} exited with {proc.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    if r.status == 200:
                        wall = time.perf_counter() - start
                        proc.kill()  # no shutdown work in the CPU figure
                        _, status, usage = os.wait4(proc.pid, 0)
                        proc.returncode = os.waitstatus_to_exitcode(status)
                        return wall, usage.ru_utime + usage.ru_stime
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"{argv} did not serve within {timeout}s")
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    print("load average before: %.2f %.2f %.2f" % os.getloadavg())
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    with tempfile.TemporaryDirectory() as tmp:
        # both start from bytecode, as an installed app does: the warm-up writes it (to the temporary
        # folder, for the libraries too) even where the shell says not to write bytecode
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        bare = Path(tmp) / "bare_app.py"
        bare.write_text(BARE)
        env["STUDIO_DATA_DIR"] = str(Path(tmp) / "data")
        studio_t, bare_t, studio_cpu, bare_cpu = [], [], [], []
        time_to_200([sys.executable, "app.py"], env)  # warm-up: first migration, bytecode
        time_to_200([sys.executable, str(bare)], env)
        for i in range(args.runs):
            for times, cpus, argv in ((studio_t, studio_cpu, [sys.executable, "app.py"]),
                                      (bare_t, bare_cpu, [sys.executable, str(bare)])):
                wall, cpu = time_to_200(argv, env)
                times.append(wall)
                cpus.append(cpu)
            print(f"run {i + 1}: studio {studio_t[-1]:.2f}s  bare {bare_t[-1]:.2f}s  ratio {studio_t[-1] / bare_t[-1]:.2f}"
                  f"  | CPU studio {studio_cpu[-1]:.2f}s  bare {bare_cpu[-1]:.2f}s  ratio {studio_cpu[-1] / bare_cpu[-1]:.2f}")
    ms, mb = statistics.median(studio_t), statistics.median(bare_t)
    ratios = sorted(s / b for s, b in zip(studio_t, bare_t))
    print(f"median: studio {ms:.2f}s  bare {mb:.2f}s  ratio {ms / mb:.2f} (per-pair ratios {ratios[0]:.2f}..{ratios[-1]:.2f}; target < 1.5)")
    cs, cb = statistics.median(studio_cpu), statistics.median(bare_cpu)
    print(f"CPU median: studio {cs:.2f}s  bare {cb:.2f}s  ratio {cs / cb:.2f}")
    print("load average after: %.2f %.2f %.2f" % os.getloadavg())


if __name__ == "__main__":
    main()
