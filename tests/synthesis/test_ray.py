"""Synthesis batches on a local Ray cluster with two workers: stored once, retried, resumed.

Ray is an optional extra (installed by the test command); without it these tests are skipped
outside CI.
"""
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

from studio.db.models import Sample
from studio.synthesis.batches import BatchOptions, batch_status, create_batch
from studio.synthesis.dedup import DedupSettings
from studio.synthesis.models import SynthesisItem
from studio.synthesis.planner import SynthesisRequest

ROOT = Path(__file__).resolve().parents[2]
OFF = DedupSettings(near="off")
NODES = ["opengpt4o/gen/spatial", "opengpt4o/edit/subject"]

pytestmark = pytest.mark.slow


def _stored_once(studio, batch_id: str, dataset: str, count: int) -> None:
    with studio.db.session() as s:
        samples = s.execute(select(Sample).where(Sample.dataset == dataset)).scalars().all()
        item_sample_ids = s.execute(select(SynthesisItem.sample_id).where(
            SynthesisItem.batch_id == batch_id)).scalars().all()
    assert len(samples) == count
    assert sorted(x.provenance["position"] for x in samples) == list(range(count))  # nothing lost, nothing twice
    assert sorted(item_sample_ids) == sorted(x.id for x in samples)
    for sample in samples:
        for sha in [sample.output_image, *sample.input_images]:
            if sha:
                assert studio.images.find(sha) is not None  # the driver wrote what the worker made


def _batch(studio, count: int, dataset: str, backend: str = "tiny") -> str:
    req = SynthesisRequest(nodes=NODES, count=count, seed=7, dedup=OFF)
    return create_batch(studio, req, BatchOptions(images_backend=backend, dataset=dataset))


def test_batch_on_two_workers_stores_every_item_once(synth_studio, ray_cluster):
    from studio.raypool import RayOptions
    from studio.synthesis.ray_runner import run_batch_on_ray

    bid = _batch(synth_studio, 30, "ray-basic")
    seen = []
    st = run_batch_on_ray(synth_studio, bid, RayOptions(address="local", actors=2), progress=seen.append)
    assert (st.status, st.done, st.failed) == ("done", 30, 0)
    _stored_once(synth_studio, bid, "ray-basic", 30)
    assert seen and seen[-1].done == 30  # the tab's progress comes from the same status


def test_item_failures_end_as_failed_items_not_retries(synth_studio, ray_cluster):
    from studio.raypool import RayOptions
    from studio.synthesis.ray_runner import run_batch_on_ray

    bid = _batch(synth_studio, 12, "ray-flaky", backend="flaky")
    st = run_batch_on_ray(synth_studio, bid, RayOptions(address="local", actors=2))
    with synth_studio.db.session() as s:
        items = s.execute(select(SynthesisItem).where(SynthesisItem.batch_id == bid)).scalars().all()
    failed = [i for i in items if i.state == "failed"]
    assert st.status == "done" and st.failed == len(failed)
    assert all("balloon" in i.error for i in failed)
    assert all(i.attempts == 1 for i in items)  # the item's own fault: run once, not retried


def test_killed_worker_is_replaced_and_its_items_stored_once(data_dir, tmp_path, ray_cluster):
    from studio.core import Studio
    from studio.raypool import RayOptions
    from studio.settings import load_settings
    from studio.synthesis.ray_runner import RayBatchRunner

    cfg = tmp_path / "slow.yaml"  # each call sleeps a little so a worker dies with work in hand
    cfg.write_text('backends:\n  slow:\n    engine: "tests.support.fake_backends:TinyPainter"\n'
                   '    capabilities: [text-to-image, edit]\n    options: {delay: 0.05}\n')
    synth_studio = Studio(load_settings(data_dir=data_dir, backends_config=cfg))
    count = 40
    bid = _batch(synth_studio, count, "ray-kill", backend="slow")
    runner = RayBatchRunner(synth_studio, bid, RayOptions(address="local", actors=2))
    out: dict = {}
    t = threading.Thread(target=lambda: out.update(status=runner.run()))
    t.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and batch_status(synth_studio, bid).done < 5:
        time.sleep(0.05)
    assert batch_status(synth_studio, bid).done < count, "the batch ended before a worker could be killed"
    ray_cluster.kill(runner.actors[0], no_restart=False)  # Ray restarts it and retries its calls
    t.join(180)
    st = out["status"]
    assert (st.status, st.done, st.failed) == ("done", count, 0)
    _stored_once(synth_studio, bid, "ray-kill", count)
    synth_studio.close()


def test_killed_driver_resumes_on_ray_without_duplicates(synth_studio, data_dir, backends_yaml):
    """The `python -m studio synth --ray local` process (driver and its cluster) is killed mid-batch;
    `--resume` on Ray finishes it with every item stored once."""
    env = dict(os.environ, STUDIO_DATA_DIR=str(data_dir), STUDIO_BACKENDS_CONFIG=str(backends_yaml),
               TINY_PAINTER_DELAY="0.2", PYTHONPATH=str(ROOT))
    count = 24
    base = [sys.executable, "-m", "studio", "synth", "--ray", "local", "--ray-actors", "2"]
    proc = subprocess.Popen(
        [*base, *sum((["--node", n] for n in NODES), []), "--count", str(count), "--seed", "5",
         "--images", "tiny", "--dataset", "ray-resume", "--near-dup", "off"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            with synth_studio.db.session() as s:
                done = s.execute(select(func.count()).select_from(SynthesisItem).where(
                    SynthesisItem.state == "done")).scalar_one()
            if done >= 4 or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert proc.poll() is None, f"the batch ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    with synth_studio.db.session() as s:
        bid = s.execute(select(SynthesisItem.batch_id)).scalars().first()
    before = batch_status(synth_studio, bid)
    assert before.status == "interrupted" and 0 < before.done < count
    resumed = subprocess.run([*base, "--resume", bid], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    st = batch_status(synth_studio, bid)
    assert (st.status, st.done, st.failed) == ("done", count, 0)
    _stored_once(synth_studio, bid, "ray-resume", count)


def test_without_the_flag_ray_is_not_imported(data_dir, backends_yaml):
    code = ("import sys; from studio.cli import main; "
            "rc = main(['synth', '--node', 'opengpt4o/gen/spatial', '--count', '3', '--images', 'tiny', "
            "'--near-dup', 'off']); assert rc == 0, rc; assert 'ray' not in sys.modules, 'ray was imported'")
    env = dict(os.environ, STUDIO_DATA_DIR=str(data_dir), STUDIO_BACKENDS_CONFIG=str(backends_yaml),
               PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_unreachable_cluster_is_a_clear_error(data_dir, backends_yaml):
    env = dict(os.environ, STUDIO_DATA_DIR=str(data_dir), STUDIO_BACKENDS_CONFIG=str(backends_yaml),
               PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "studio", "synth", "--node", "opengpt4o/gen/spatial", "--count", "2",
                           "--images", "tiny", "--near-dup", "off", "--ray", "127.0.0.1:9"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "cannot reach the Ray cluster at '127.0.0.1:9'" in done.stderr
