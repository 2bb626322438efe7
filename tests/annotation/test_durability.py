"""SIGKILL the real server (python app.py) during a stream of votes: no acknowledged vote is lost."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.annotation.helpers import make_batch
from tests.annotation.live import ApiError, call
from tests.support.postgres import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _wait_up(url: str, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url + "/config", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("server did not come up")


def test_sigkill_during_votes_loses_no_acknowledged_vote(tmp_path):
    from studio.annotation.results import vote_records
    from studio.core import Studio
    from studio.settings import load_settings

    data = tmp_path / "data"
    studio = Studio(load_settings(data_dir=data))
    batch_id, _ = make_batch(studio, "durable", 60, overlap=4)
    studio.close()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "STUDIO_DATA_DIR": str(data), "GRADIO_SERVER_NAME": "127.0.0.1",
           "GRADIO_SERVER_PORT": str(port), "STUDIO_LOG_LEVEL": "WARNING", "GRADIO_ANALYTICS_ENABLED": "False"}
    log = tmp_path / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    acknowledged: list[tuple[str, str]] = []  # (annotator, assignment token)
    lock = threading.Lock()
    stop = threading.Event()

    def annotate(name: str) -> None:
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                try:
                    token = call(client, url, "annotate_start", [name, batch_id])[9]
                    if not token:
                        return
                    call(client, url, "vote_left", [name, batch_id, token, None, None, None])
                except (httpx.HTTPError, ApiError, ValueError):
                    return  # the server is gone
                with lock:
                    acknowledged.append((name, token))

    try:
        _wait_up(url, proc, log)
        threads = [threading.Thread(target=annotate, args=(f"ann{k}",)) for k in range(4)]
        [t.start() for t in threads]
        while len(acknowledged) < 25 and all(t.is_alive() for t in threads):
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)  # mid-stream: requests are in flight
        proc.wait(timeout=30)
        stop.set()
        [t.join(timeout=30) for t in threads]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert len(acknowledged) >= 25, log.read_text()[-2000:]

    studio = Studio(load_settings(data_dir=data))
    try:
        from sqlalchemy import select

        from studio.annotation.models import PairwiseVote

        with studio.db.session() as s:
            stored = set(s.execute(select(PairwiseVote.annotator, PairwiseVote.assignment_id)).all())
        missing = [a for a in acknowledged if a not in stored]
        assert missing == []
        assert len(vote_records(studio, batch_id)) == len(stored)
    finally:
        studio.close()
