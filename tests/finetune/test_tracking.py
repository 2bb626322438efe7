"""Run tracking: batched metric writes from another process while the UI reads, on SQLite and PostgreSQL."""
from __future__ import annotations

import multiprocessing as mp

import pytest

from finetune.tracker import MetricWriter, RunTracker
from studio.db import Database

CONFIG = {"task": "text-to-image", "method": "lora", "base_model": "tiny", "name": "t", "max_steps": 2000,
          "lora": {"rank": 4}}


def _write(url: str, run_id: str, steps: int) -> None:
    db = Database(url)
    writer = MetricWriter(db, run_id, max_rows=200, interval_s=0.05)
    for step in range(1, steps + 1):
        writer.log(step, {"loss": 1.0 / step, "lr": 1e-4})
    writer.flush(steps)
    db.dispose()


def test_concurrent_writer_and_reader(db_url):
    db = Database(db_url)
    tracker = RunTracker(db)
    run_id = tracker.create_run(config=CONFIG, output_dir="/tmp/x", log_path="/tmp/x.log", device="cpu",
                                status="running")
    steps = 2000
    proc = mp.get_context("spawn").Process(target=_write, args=(db_url, run_id, steps))
    proc.start()
    reads = 0
    while proc.is_alive() or reads < 3:
        runs = tracker.list_runs()
        curve = tracker.curve(run_id, "loss", max_points=500)
        assert len(curve) <= 500
        assert [s for s, _ in curve] == sorted(s for s, _ in curve)
        assert runs[0].id == run_id
        reads += 1
    proc.join(60)
    assert proc.exitcode == 0
    run = tracker.get(run_id)
    assert run.step == steps
    assert run.latest == {"loss": pytest.approx(1.0 / steps), "lr": pytest.approx(1e-4)}
    assert run.heartbeat_at is not None
    full = tracker.curve(run_id, "loss", max_points=10_000)
    assert len(full) == steps and full[0] == (1, 1.0)
    assert tracker.params(run_id)["lora.rank"] == "4"
    tracker.delete(run_id)
    assert tracker.get(run_id) is None and tracker.curve(run_id) == []
    db.dispose()


def test_status_transitions_are_guarded(tmp_path):
    tracker = RunTracker(Database(f"sqlite:///{tmp_path / 't.db'}"))
    run_id = tracker.create_run(config=CONFIG, output_dir="/tmp/x", log_path="/tmp/x.log", device="cpu")
    assert tracker.get(run_id).status == "queued"
    assert not tracker.transition(run_id, "completed", only_from=("running",))
    assert tracker.transition(run_id, "running", only_from=("queued",))
    with pytest.raises(ValueError, match="unknown run status"):
        tracker.transition(run_id, "exploded")
    assert [k for _, k, _ in tracker.events(run_id)] == ["queued", "running"]


def test_curve_thins_sparse_steps_evenly(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    tracker = RunTracker(db)
    run_id = tracker.create_run(config=CONFIG, output_dir="/tmp/x", log_path="/tmp/x.log", device="cpu")
    writer = MetricWriter(db, run_id, max_rows=1000, interval_s=10)
    for step in range(3, 3 * 1001, 3):  # logged every third step: 1000 rows
        writer.log(step, {"loss": 1.0 / step})
    writer.flush(3000)
    curve = tracker.curve(run_id, "loss", max_points=300)
    assert len(curve) == 250  # every 4th row of 1000
    assert curve[0] == (3, pytest.approx(1 / 3)) and curve[1][0] == 15
    assert len(tracker.curve(run_id, "loss", max_points=5000)) == 1000
    db.dispose()


def test_an_empty_loss_curve_keeps_numeric_axes_for_the_points_that_come_later():
    import gradio as gr

    from finetune.summary import curve_frame

    plot = gr.LinePlot(x="step", y="value", color="series")
    empty = plot.postprocess(curve_frame([])).model_dump()
    assert empty["datatypes"]["step"] == "quantitative" and empty["datatypes"]["value"] == "quantitative"
    full = plot.postprocess(curve_frame([{"run": "r", "metric": "loss", "series": "r · loss", "step": 3,
                                          "value": 0.5}])).model_dump()
    assert full["datatypes"]["step"] == "quantitative"
