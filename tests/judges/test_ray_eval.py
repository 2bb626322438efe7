"""Evaluation runs on a local Ray cluster with two workers, judged by the scene-graph judge."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from studio.judges.evalruns import EvalRequest, create_run, run_summary
from studio.judges.models import EvalItem
from studio.judges.promptsets import from_geneval_templates

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

BACKENDS = """
backends:
  procedural:
    engine: procedural
  tiny:
    engine: "tests.support.fake_backends:TinyPainter"
    capabilities: [text-to-image, edit]
  slow:
    engine: "tests.support.fake_backends:TinyPainter"
    capabilities: [text-to-image, edit]
    options: {delay: 0.1}
"""


@pytest.fixture
def eval_studio(data_dir, tmp_path):
    from studio.core import Studio
    from studio.settings import load_settings

    cfg = tmp_path / "backends.yaml"
    cfg.write_text(BACKENDS)
    s = Studio(load_settings(data_dir=data_dir, backends_config=cfg))
    s.backends_yaml = cfg
    yield s
    s.close()


def _run(studio, name: str, backends: list[str], n: int) -> str:
    prompts = from_geneval_templates(n, 3)
    return create_run(studio, EvalRequest(name, backends, "scene-graph", "geneval", prompts, 96, 96, 0,
                                          {"geneval_templates": n}))


def _states(studio, run_id: str) -> dict[str, int]:
    with studio.db.session() as s:
        return dict(s.execute(select(EvalItem.state, func.count()).where(EvalItem.run_id == run_id)
                              .group_by(EvalItem.state)).all())


def test_run_on_two_workers_scores_every_row_like_in_process(eval_studio, ray_cluster):
    from studio.judges.evalruns import run_eval
    from studio.judges.ray_eval import run_eval_on_ray
    from studio.raypool import RayOptions

    on_ray = run_eval_on_ray(eval_studio, _run(eval_studio, "on-ray", ["procedural"], 16), RayOptions(actors=2))
    here = run_eval(eval_studio, _run(eval_studio, "here", ["procedural"], 16))
    assert on_ray["status"] == "done" and on_ray["counts"] == here["counts"]
    assert on_ray["aggregates"] == here["aggregates"]  # same images, same judge: the same figures
    items = run_summary(eval_studio, "on-ray", items=True)["items"]
    assert len(items) == 16 and all(i["image"] for i in items)
    for i in items:
        assert eval_studio.images.find(i["image"]) is not None  # the driver stored what a worker made


def test_killed_worker_is_replaced_and_the_run_finishes(eval_studio, ray_cluster, monkeypatch):
    from studio.judges import ray_eval
    from studio.raypool import RayOptions

    run_id = _run(eval_studio, "kill-worker", ["slow"], 30)  # workers see the delay in the backend's options
    started: list = []
    real_start = ray_eval.start_workers

    def spy(*args, **kwargs):
        actors, per_actor = real_start(*args, **kwargs)
        started.extend(actors)
        return actors, per_actor

    monkeypatch.setattr(ray_eval, "start_workers", spy)
    out: dict = {}
    t = threading.Thread(target=lambda: out.update(summary=ray_eval.run_eval_on_ray(
        eval_studio, run_id, RayOptions(actors=2))))
    t.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and _states(eval_studio, run_id).get("pending", 30) > 25:
        time.sleep(0.05)
    assert _states(eval_studio, run_id).get("pending", 0) > 0, "the run ended before a worker could be killed"
    ray_cluster.kill(started[0], no_restart=False)
    t.join(180)
    assert out["summary"]["status"] == "done"
    assert _states(eval_studio, run_id) == {"done": 30}


def test_killed_driver_resumes_on_ray(eval_studio, data_dir):
    env = dict(os.environ, STUDIO_DATA_DIR=str(data_dir), STUDIO_BACKENDS_CONFIG=str(eval_studio.backends_yaml),
               TINY_PAINTER_DELAY="0.2", PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "studio", "eval", "run", "resumed", "--ray", "local", "--ray-actors", "2"]
    proc = subprocess.Popen([*cmd, "--backend", "tiny", "--judge", "scene-graph", "--rubric", "geneval",
                             "--geneval-templates", "24", "--width", "64", "--height", "64"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            with eval_studio.db.session() as s:
                if s.execute(select(func.count()).select_from(EvalItem).where(EvalItem.state == "done")).scalar_one() >= 4:
                    break
            time.sleep(0.1)
        assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    with eval_studio.db.session() as s:
        run_id = s.execute(select(EvalItem.run_id)).scalars().first()
    assert 0 < _states(eval_studio, run_id).get("pending", 0) < 24
    resumed = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert _states(eval_studio, run_id) == {"done": 24}
