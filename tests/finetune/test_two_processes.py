"""Training under ``accelerate launch`` with two CPU processes (gloo): what several GPUs do, on a CPU."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from finetune.config import parse_config, save_config
from tests.finetune.conftest import base_config

REPO = Path(__file__).resolve().parents[2]


def run_two_processes(config_path: Path) -> subprocess.CompletedProcess:
    """``accelerate launch`` two processes of the training entry point (torchrun; CPU devices, gloo)."""
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env.pop("CUDA_VISIBLE_DEVICES", None)
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--main_process_port", str(29500 + os.getpid() % 1000),
               "-m", "finetune.train", str(config_path), "--no-queue"]
    return subprocess.run(command, cwd=str(REPO), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=600)


def check_two_process_run(result: subprocess.CompletedProcess, out: Path, steps: int) -> None:
    """Both processes trained; one of them logged, checkpointed and saved the result."""
    assert result.returncode == 0, result.stdout[-4000:]
    assert result.stdout.count("(2 processes)") == 1
    assert result.stdout.count(f"training completed at step {steps}") == 1
    assert result.stdout.count("checkpoint saved at step 1") == 1
    state = json.loads((out / "checkpoints" / f"checkpoint-{steps}" / "trainer_state.json").read_text())
    assert state["step"] == steps


@pytest.mark.slow
def test_text_to_image_lora_with_two_processes(tiny_pipeline, t2i_file, tmp_path):
    from finetune.datasets import read_released_file, validate_rows, write_manifest

    report = validate_rows(read_released_file(t2i_file), "text-to-image", 16)
    manifest = write_manifest(report.usable_rows, tmp_path / "m.jsonl")
    out = tmp_path / "out"
    cfg = parse_config(base_config(tiny_pipeline, t2i_file, out, max_steps=2, batch_size=1, checkpointing_steps=1,
                                   manifest=str(manifest)))
    result = run_two_processes(save_config(cfg, tmp_path / "config.yaml"))
    check_two_process_run(result, out, 2)
    assert (out / "result").is_dir()
