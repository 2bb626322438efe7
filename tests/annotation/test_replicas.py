"""Two app processes (python app.py) against one PostgreSQL database, ten annotators voting at once
through both: no item assigned past its overlap, no vote lost or stored twice, and progress that
both processes agree on."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.annotation.helpers import make_batch
from tests.annotation.live import call
from tests.annotation.test_durability import _wait_up
from tests.support.postgres import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
TOKEN = 9  # annotate_start's output holding the assignment token


def test_two_processes_on_one_postgres_share_the_work_without_loss(pg_server, tmp_path):
    from sqlalchemy import select

    from studio.annotation import service
    from studio.annotation.models import PairwiseVote
    from studio.core import Studio
    from studio.settings import load_settings

    db_url = pg_server.create_database()
    data = tmp_path / "data"  # shared by both replicas (images), as a shared volume would be
    studio = Studio(load_settings(data_dir=data, database_url=db_url))
    batch_id, items = make_batch(studio, "replicas", 24, overlap=3)
    studio.close()

    procs, urls = [], []

    def start(k: int) -> None:  # one at a time: two start-ups at once on a loaded machine time out
        port = free_port()
        env = {**os.environ, "STUDIO_DATA_DIR": str(data), "STUDIO_DATABASE_URL": db_url,
               "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
               "STUDIO_LOG_LEVEL": "WARNING", "GRADIO_ANALYTICS_ENABLED": "False"}
        log = tmp_path / f"server{k}.log"
        with log.open("w") as out:
            procs.append((subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=out,
                                           stderr=subprocess.STDOUT), log))
        urls.append(f"http://127.0.0.1:{port}")
        _wait_up(urls[-1], *procs[-1])

    acknowledged: list[tuple[str, str]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def annotate(k: int) -> None:
        name = f"voter{k}"
        try:
            with httpx.Client(timeout=60) as client:
                turn = k
                while True:
                    # each call may land on either replica (a new request, a new pick)
                    token = call(client, urls[turn % 2], "annotate_start", [name, batch_id])[TOKEN]
                    turn += 1
                    if not token:
                        return
                    call(client, urls[turn % 2], "vote_left", [name, batch_id, token, None, None, None])
                    turn += 1
                    with lock:
                        acknowledged.append((name, token))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    try:
        start(0)
        start(1)
        time.sleep(5)  # launch() checks that its own URL answers after it is up; let both finish that
        for proc, log in procs:
            assert proc.poll() is None, log.read_text()[-2000:]
        barrier_threads = [threading.Thread(target=annotate, args=(k,)) for k in range(10)]
        [t.start() for t in barrier_threads]
        [t.join(timeout=300) for t in barrier_threads]
    finally:
        for proc, _log in procs:
            proc.terminate()
        for proc, _log in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    assert errors == [], errors[:3]

    studio = Studio(load_settings(data_dir=data, database_url=db_url))
    try:
        with studio.db.session() as s:
            stored = s.execute(select(PairwiseVote.annotator, PairwiseVote.assignment_id, PairwiseVote.item_id)
                               .where(PairwiseVote.batch_id == batch_id)).all()
        assert sorted((a, t) for a, t, _ in stored) == sorted(acknowledged)  # none lost, none extra
        assert len({(a, i) for a, _, i in stored}) == len(stored)  # nobody judged an item twice
        per_item = Counter(i for _, _, i in stored)
        assert set(per_item) == set(items) and set(per_item.values()) == {3}  # every item to its overlap
        assert service.get_batch(studio, batch_id).votes == 24 * 3
    finally:
        studio.close()
