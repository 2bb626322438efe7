"""A tiny model fine-tuned on one fixed batch: the loss goes down (LoRA and full; T2I and editing)."""
from __future__ import annotations

import pytest
import torch

from finetune.config import parse_config
from finetune.datasets import read_released_file
from tests.finetune.conftest import base_config


def fixed_batch_losses(task, rows, steps: int, lr: float) -> list[float]:
    """Train ``steps`` optimizer steps on one batch with the same noise and timesteps each step."""
    collate = getattr(task, "collate", torch.utils.data.default_collate)
    batch = collate([task.make_example(r) for r in rows])
    params = task.trainable_parameters()
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    model = task.trainable_module()
    losses = []
    for _ in range(steps):
        torch.manual_seed(0)
        loss = task.loss(model, batch)
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("task_name,method", [("text-to-image", "lora"), ("text-to-image", "full"),
                                              ("edit", "full")])
def test_loss_decreases_on_a_fixed_batch(tiny_pipeline, t2i_file, edit_file, tmp_path, task_name, method):
    from finetune.diffusion_task import DiffusionTask

    data = edit_file if task_name == "edit" else t2i_file
    config = parse_config(base_config(tiny_pipeline, data, tmp_path / "out", task=task_name, method=method,
                                      conditioning_dropout=0.0))
    task = DiffusionTask(config, torch.device("cpu"), torch.float32)
    trainable = sum(p.numel() for p in task.trainable_parameters())
    total = sum(p.numel() for p in task.unet.parameters())
    if method == "lora":
        assert 0 < trainable < total / 5  # only the adapter trains
    else:
        assert trainable == total
    if task_name == "edit":
        assert task.unet.config.in_channels == 8  # source latents are concatenated
    losses = fixed_batch_losses(task, read_released_file(data), steps=6, lr=1e-2 if method == "lora" else 3e-4)
    assert losses[-1] < losses[0] * 0.97, losses
    assert sum(b < a for a, b in zip(losses, losses[1:])) >= len(losses) // 2, losses


def test_edit_lora_on_a_text_to_image_base_is_refused(tiny_pipeline, edit_file, tmp_path):
    from finetune.diffusion_task import DiffusionTask, TaskError

    config = parse_config(base_config(tiny_pipeline, edit_file, tmp_path / "out", task="edit"))
    with pytest.raises(TaskError, match="InstructPix2Pix base"):
        DiffusionTask(config, torch.device("cpu"), torch.float32)
