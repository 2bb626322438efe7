"""The trainer end to end in-process: tracked metrics, a loadable adapter, stop and exact resume."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from finetune.config import parse_config
from finetune.datasets import read_released_file, validate_rows, write_manifest
from finetune.reporting import RunReporter
from finetune.tracker import RunTracker
from finetune.trainer import Trainer, checkpoint_dirs
from studio.db import Database
from tests.finetune.conftest import base_config


class StopAtStep(RunReporter):
    """A tracked reporter whose stop request arrives once the run reaches ``step``."""

    def __init__(self, tracker, run_id, step):
        super().__init__(tracker, run_id, poll_s=0.0)
        self.stop_at = step
        self.seen = 0

    def metrics(self, step, values):
        self.seen = step
        super().metrics(step, values)

    def stop_requested(self):
        return self.seen >= self.stop_at


def _config(pipe, data, out, tmp_path, **kw):
    rows = validate_rows(read_released_file(data), kw.get("task", "text-to-image"), 16).usable_rows
    manifest = write_manifest(rows, tmp_path / f"{out.name}-manifest.jsonl")
    return parse_config(base_config(pipe, data, out, manifest=str(manifest), **kw))


def _tracker(tmp_path) -> RunTracker:
    return RunTracker(Database(f"sqlite:///{tmp_path / 'runs.db'}"))


def _lora_weights(result: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(result / "pytorch_lora_weights.safetensors"))


def test_stop_then_resume_matches_an_uninterrupted_run(tiny_pipeline, t2i_file, tmp_path):
    """Same step, optimizer, scheduler, RNG and data order: the resumed run ends bit-for-bit equal."""
    tracker = _tracker(tmp_path)
    common = dict(max_steps=4, batch_size=2, lr_scheduler="linear", lr_warmup_steps=1,
                  lora={"dropout": 0.0})
    straight = _config(tiny_pipeline, t2i_file, tmp_path / "straight", tmp_path, **common)
    assert Trainer(straight).run() == "completed"

    cfg = _config(tiny_pipeline, t2i_file, tmp_path / "resumed", tmp_path, **common)
    run_id = tracker.create_run(config=cfg.to_dict(), output_dir=cfg.output_dir, log_path="x.log", device="cpu")
    first = Trainer(cfg, StopAtStep(tracker, run_id, 2))
    assert first.run() == "stopped"
    run = tracker.get(run_id)
    assert run.status == "stopped" and run.step == 2
    assert [s for s, _ in tracker.checkpoints(run_id)] == [2]
    saved_opt = torch.load(Path(checkpoint_dirs(cfg.output_dir)[-1]) / "optimizer.bin", weights_only=False)

    second = Trainer(cfg, RunReporter(tracker, run_id))
    assert second.run() == "completed"
    assert second.step == 4
    events = [m for _, k, m in tracker.events(run_id) if k == "running"]
    assert events[-1] == "resumed at step 2"
    # the optimizer state the resumed run started from is the one saved at the stop
    resumed_opt = torch.load(Path(checkpoint_dirs(cfg.output_dir)[-1]) / "optimizer.bin", weights_only=False)
    assert saved_opt["state"].keys() == resumed_opt["state"].keys()
    a, b = _lora_weights(Path(straight.output_dir) / "result"), _lora_weights(Path(cfg.output_dir) / "result")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)
    assert tracker.get(run_id).status == "completed"
    losses = tracker.curve(run_id, "loss")
    assert [s for s, _ in losses] == [1, 2, 3, 4]


def test_adapter_loads_with_diffusers_and_changes_the_output(tiny_pipeline, t2i_file, tmp_path):
    from diffusers import StableDiffusionPipeline

    cfg = _config(tiny_pipeline, t2i_file, tmp_path / "out", tmp_path, max_steps=3, learning_rate=5e-2,
                  sample_every=3, sample_prompts=["a red square"], sample_steps=2)
    tracker = _tracker(tmp_path)
    run_id = tracker.create_run(config=cfg.to_dict(), output_dir=cfg.output_dir, log_path="x.log", device="cpu")
    assert Trainer(cfg, RunReporter(tracker, run_id)).run() == "completed"
    run = tracker.get(run_id)
    result = Path(run.result_path)
    assert (result / "pytorch_lora_weights.safetensors").exists()
    assert [s for s, _, _ in tracker.samples(run_id)] == [0, 3]  # before and after

    def draw(with_lora: bool):
        pipe = StableDiffusionPipeline.from_pretrained(str(tiny_pipeline), safety_checker=None)
        if with_lora:
            pipe.load_lora_weights(str(result))
        pipe.set_progress_bar_config(disable=True)
        out = pipe("a red square", num_inference_steps=2, height=16, width=16, output_type="np",
                   generator=torch.Generator().manual_seed(0)).images[0]
        return out

    base, tuned = draw(False), draw(True)
    assert abs(base - tuned).max() > 1e-3


def test_adapter_becomes_a_backend_variant(tiny_pipeline, t2i_file, tmp_path, studio):
    """The finished run registered as a backend draws differently from the base backend."""
    pytest.importorskip("backends.diffusers_engine")
    from backends.base import GenerationRequest
    from backends.registry import BackendEntry
    from finetune.results import register_result

    cfg = _config(tiny_pipeline, t2i_file, tmp_path / "out", tmp_path, max_steps=2, learning_rate=5e-2)
    tracker = RunTracker(studio.db)
    run_id = tracker.create_run(config=cfg.to_dict(), output_dir=cfg.output_dir, log_path="x.log", device="cpu")
    assert Trainer(cfg, RunReporter(tracker, run_id)).run() == "completed"
    name = register_result(studio, run_id)
    entry = studio.backends.entry(name)
    assert entry.engine == "diffusers-text2image"
    # the adapter on its base, sampling with the run's own steps and guidance
    assert entry.options == {"model": str(tiny_pipeline), "loras": [{"path": tracker.get(run_id).result_path,
                                                                       "scale": 1.0}],
                             "steps": cfg.sample_steps, "guidance_scale": cfg.sample_guidance_scale}
    studio.backends.add(BackendEntry(name="tiny-base", engine="diffusers-text2image", label="base",
                                     options={"model": str(tiny_pipeline)}))
    req = dict(prompt="a red square", seed=0, width=16, height=16, steps=2)
    base = studio.backends.get("tiny-base").generate(GenerationRequest(**req)).image
    tuned = studio.backends.get(name).generate(GenerationRequest(**req)).image
    assert base.size == tuned.size == (16, 16)
    assert base.tobytes() != tuned.tobytes()
