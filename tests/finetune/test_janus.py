"""A tiny Janus fine-tuned with the Janus-4o recipe: masking as specified, loss down on a fixed batch."""
from __future__ import annotations

import pytest
import torch

from finetune.config import parse_config
from finetune.datasets import read_released_file
from tests.finetune.conftest import base_config
from tests.finetune.test_fixed_batch import fixed_batch_losses


@pytest.fixture(scope="module")
def tiny_janus(tmp_path_factory):
    from finetune.tiny import build_tiny_janus

    return build_tiny_janus(tmp_path_factory.mktemp("janus") / "janus")


def _task(path, data, tmp_path, **kw):
    from finetune.janus_task import JanusTask

    cfg = parse_config(base_config(path, data, tmp_path / "out", resolution=32, **kw))
    return JanusTask(cfg, torch.device("cpu"), torch.float32)


def test_masking_recipe(tiny_janus, edit_file, tmp_path):
    task = _task(tiny_janus, edit_file, tmp_path, task="janus-ti2i", method="full")
    row = read_released_file(edit_file)[0]
    ex = task.make_example(row)
    target = torch.arange(4)
    pad = task._embed_ids(task.model, [task.pad_id])[0]
    n_sem = task.n_semantic

    def pads(seq):
        return int((seq == pad).all(-1).sum())

    task.config = task.config.model_copy(update={"prompt_mask_prob": 0.0, "image_token_mask_prob": 1.0})
    seq = task._sequence(task.model, ex, target)
    n_prompt = len(ex["prompt_ids"])
    assert seq.shape[0] == 1 + n_sem + 4 + 1 + n_prompt + 1 + 3
    assert pads(seq[1 + n_sem:1 + n_sem + 4]) == 4  # every input-image VQ token masked
    assert pads(seq[1:1 + n_sem]) == 0  # the semantic embedding is kept
    task.config = task.config.model_copy(update={"image_token_mask_prob": 0.5})
    torch.manual_seed(0)
    masked = [pads(task._sequence(task.model, ex, target)[1 + n_sem:1 + n_sem + 4]) for _ in range(25)]
    assert 0.3 < sum(masked) / (25 * 4) < 0.7  # about half the input-image tokens
    task.config = task.config.model_copy(update={"prompt_mask_prob": 1.0})
    seq = task._sequence(task.model, ex, target)
    prompt_part = seq[1 + n_sem + 4 + 1:1 + n_sem + 4 + 1 + n_prompt]
    assert pads(prompt_part[1:]) == n_prompt - 1  # prompt replaced by padding
    assert pads(seq[1:1 + n_sem + 4]) == n_sem + 4  # and the image inputs with it (unconditional)


@pytest.mark.parametrize("task_name,method", [("janus-t2i", "full"), ("janus-ti2i", "lora")])
def test_loss_decreases_on_a_fixed_batch(tiny_janus, t2i_file, edit_file, tmp_path, task_name, method):
    data = edit_file if task_name == "janus-ti2i" else t2i_file
    task = _task(tiny_janus, data, tmp_path, task=task_name, method=method, prompt_mask_prob=0.0,
                 image_token_mask_prob=0.5, lora={"target_modules": "janus-llm-mlp", "rank": 8})
    if method == "lora":
        names = [n for n, p in task.model.named_parameters() if p.requires_grad]
        assert names and all("lora_" in n and "language_model" in n for n in names)
    rows = read_released_file(data)
    losses = fixed_batch_losses(task, rows, steps=6, lr=1e-2 if method == "lora" else 2e-3)
    assert losses[-1] < losses[0] * 0.9, losses
    assert sum(b < a for a, b in zip(losses, losses[1:])) >= 3, losses


def test_janus_run_through_the_trainer_saves_a_peft_adapter(tiny_janus, edit_file, tmp_path):
    """Joint T2I + TI2I rows, a validation split, a checkpoint (adapter only) and the peft result."""
    from finetune.datasets import validate_rows, write_manifest
    from finetune.trainer import Trainer, checkpoint_dirs

    rows = read_released_file(edit_file)
    rows[0]["input_images"] = []  # one text-to-image row among the edits
    report = validate_rows(rows, "janus-ti2i", 32)
    assert report.usable == 4
    manifest = write_manifest(report.usable_rows, tmp_path / "m.jsonl")
    cfg = parse_config(base_config(tiny_janus, edit_file, tmp_path / "out", task="janus-ti2i", resolution=32,
                                   max_steps=2, batch_size=2, checkpointing_steps=1, manifest=str(manifest),
                                   dataset={"validation_split": 0.25}))
    assert Trainer(cfg).run() == "completed"
    assert (tmp_path / "out" / "result" / "adapter_model.safetensors").exists()
    assert (checkpoint_dirs(tmp_path / "out")[-1] / "adapter.safetensors").exists()
