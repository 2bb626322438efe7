"""Training as a separate process: queue, stop with a checkpoint, resume, a killed process marked failed."""
from __future__ import annotations

import os
import signal
import time

import pytest

from finetune.launcher import LaunchError, Launcher
from tests.finetune.conftest import base_config


def wait_for(fn, timeout=120.0, every=0.3):
    """Poll ``fn`` until it returns something truthy (not a timing assertion: a generous ceiling)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = fn()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not reached in {timeout}s")


@pytest.mark.slow
def test_process_queue_stop_resume_and_crash(studio, tiny_pipeline, t2i_file, tmp_path):
    launcher = Launcher(studio)
    cfg = base_config(tiny_pipeline, t2i_file, tmp_path / "unused", max_steps=100_000,
                      checkpointing_steps=100_000, batch_size=1, name="long")
    first = launcher.submit(cfg)
    second = launcher.submit({**cfg, "name": "queued-behind"})
    tracker = launcher.tracker
    assert tracker.get(second).status == "queued"  # one run per device at a time
    run = wait_for(lambda: (r := tracker.get(first)).status == "running" and r.step >= 1 and r)
    assert run.pid and run.command.endswith("config.yaml") and "-m finetune.train" in run.command

    # stop: the process checkpoints and reports "stopped"; the queued run then starts on its own
    launcher.stop(first)
    stopped = wait_for(lambda: (r := tracker.get(first)).status == "stopped" and r)
    assert tracker.checkpoints(first)[-1][0] == stopped.step
    assert "stopped at step" in launcher.log_tail(first) or "training stopped" in launcher.log_tail(first)
    wait_for(lambda: tracker.get(second).status in ("starting", "running"))
    assert launcher.stop(second) in ("stopped", "stopping")
    wait_for(lambda: tracker.get(second).status == "stopped")

    # resume continues from the checkpoint; then kill -9 and the run is marked failed with its log
    launcher.resume(first)
    with pytest.raises(LaunchError, match="only stopped or failed"):
        launcher.resume(first)  # already queued again
    resumed = wait_for(lambda: (r := tracker.get(first)).status == "running" and r.step > stopped.step and r)
    events = [m for _, k, m in tracker.events(first) if k == "running"]
    assert events[-1] == f"resumed at step {stopped.step}"
    os.kill(resumed.pid, signal.SIGKILL)
    wait_for(lambda: first in launcher.reconcile())
    failed = tracker.get(first)
    assert failed.status == "failed"
    assert "killed" in failed.error and "last log lines" in failed.error and "resumed from" in failed.error
    launcher.delete(first)
    assert tracker.get(first) is None and not os.path.exists(failed.output_dir)


def test_bad_launches_are_refused_before_a_process_starts(studio, tiny_pipeline, edit_file, t2i_file, tmp_path):
    launcher = Launcher(studio)
    with pytest.raises(LaunchError, match="InstructPix2Pix base"):
        launcher.submit(base_config(tiny_pipeline, edit_file, tmp_path, task="edit", method="lora"))
    with pytest.raises(LaunchError, match="does not exist"):
        launcher.submit(base_config(tmp_path / "nowhere", t2i_file, tmp_path))
    with pytest.raises(LaunchError, match="dataset has problems"):
        launcher.submit(base_config(tiny_pipeline, t2i_file, tmp_path, task="edit", method="full"))
    assert launcher.tracker.list_runs() == []


@pytest.mark.slow
def test_a_run_that_ends_on_its_own_leaves_no_zombie(studio, tiny_pipeline, t2i_file, tmp_path):
    import psutil

    from finetune.models import FINISHED_STATUSES

    launcher = Launcher(studio)
    run_id = launcher.submit(base_config(tiny_pipeline, t2i_file, tmp_path / "unused", max_steps=1, name="short"))
    run = wait_for(lambda: (r := launcher.tracker.get(run_id)).status in FINISHED_STATUSES and r.pid and r)

    def reaped() -> bool:  # nobody calls reconcile(): the server itself must wait for its child
        try:
            return psutil.Process(run.pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    wait_for(reaped)


def test_the_several_gpu_command_counts_the_gpus_that_are_here(monkeypatch):
    from finetune.launcher import multi_gpu_command

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert "--num_processes" not in multi_gpu_command("run/config.yaml")
    assert "0 GPUs" in multi_gpu_command("run/config.yaml")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,3")
    assert "--num_processes 3 " in multi_gpu_command("run/config.yaml")
