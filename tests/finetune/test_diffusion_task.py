"""The diffusion training task as a real checkpoint meets it: saved LoRA strength, aligned edit pairs,
SDXL's added conditioning, and DiT pipelines refused before launch."""
from __future__ import annotations

import json
import random

import pytest
import torch
from PIL import Image

from finetune.config import parse_config
from finetune.datasets import read_released_file
from tests.finetune.conftest import base_config


@pytest.fixture(scope="session")
def tiny_sdxl(tmp_path_factory):
    from tests.support.tiny_pipelines import build_tiny_sdxl

    return build_tiny_sdxl(tmp_path_factory.mktemp("sdxl") / "pipe")


@pytest.fixture(scope="session")
def tiny_sdxl_ip2p(tmp_path_factory):
    from tests.support.tiny_pipelines import build_tiny_sdxl

    return build_tiny_sdxl(tmp_path_factory.mktemp("sdxl-ip2p") / "pipe", unet_in_channels=8)


def _task(pipe, data, tmp_path, **overrides):
    from finetune.diffusion_task import DiffusionTask

    config = parse_config(base_config(pipe, data, tmp_path / "out", **overrides))
    return DiffusionTask(config, torch.device("cpu"), torch.float32)


def _losses(task, rows, steps: int, lr: float) -> list[float]:
    batch = torch.utils.data.default_collate([task.make_example(r) for r in rows])
    opt = torch.optim.AdamW(task.trainable_parameters(), lr=lr, weight_decay=0.0)
    losses = []
    for _ in range(steps):
        torch.manual_seed(0)  # the same noise and timesteps every step
        loss = task.loss(task.trainable_module(), batch)
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    return losses


def _unet_inputs(unet, seed=0):
    g = torch.Generator().manual_seed(seed)
    sample = torch.randn(2, unet.config.in_channels, 8, 8, generator=g)
    hidden = torch.randn(2, 5, unet.config.cross_attention_dim, generator=g)
    return sample, torch.tensor([10, 500]), hidden


def test_lora_with_alpha_not_rank_loads_in_diffusers_at_the_trained_strength(tiny_pipeline, t2i_file, tmp_path):
    from diffusers import StableDiffusionPipeline

    task = _task(tiny_pipeline, t2i_file, tmp_path, lora={"rank": 4, "alpha": 16.0})
    torch.manual_seed(3)
    for name, p in task.unet.named_parameters():  # stands in for training: B starts at zero
        if "lora_" in name:
            p.data.normal_(0.0, 0.2)
    task.unet.eval()
    result = task.save_result(task.unet, tmp_path / "result")
    pipe = StableDiffusionPipeline.from_pretrained(str(tiny_pipeline), safety_checker=None)
    pipe.load_lora_weights(str(result))
    args = _unet_inputs(task.unet)
    with torch.no_grad():
        trained = task.unet(*args, return_dict=False)[0]
        loaded = pipe.unet(*args, return_dict=False)[0]
        base = StableDiffusionPipeline.from_pretrained(str(tiny_pipeline), safety_checker=None).unet(
            *args, return_dict=False)[0]
    assert (trained - base).abs().max() > 1e-3  # the adapter does change the output
    torch.testing.assert_close(loaded, trained, atol=1e-5, rtol=1e-4)


def test_uncentred_crops_cut_source_and_target_with_one_box(tiny_pipeline, tmp_path):
    data = tmp_path / "pairs"
    data.mkdir()
    noise = Image.frombytes("RGB", (48, 16), random.Random(1).randbytes(48 * 16 * 3))
    noise.save(data / "same.png")
    rows = [{"input_prompt": "keep it", "input_image": ["same.png"], "output_image": "same.png"}]
    (data / "pairs.json").write_text(json.dumps(rows))
    task = _task(tiny_pipeline, data / "pairs.json", tmp_path, task="edit", method="full",
                 center_crop=False, random_flip=True)
    row = read_released_file(data / "pairs.json")[0]
    random.seed(0)
    examples = [task.make_example(row) for _ in range(8)]
    assert len({ex["pixel_values"].sum().item() for ex in examples}) > 1  # the crop does move
    for ex in examples:
        assert torch.equal(ex["pixel_values"], ex["source_pixel_values"])


def test_sdxl_lora_trains_samples_and_loads_in_diffusers(tiny_sdxl, t2i_file, tmp_path):
    from diffusers import StableDiffusionXLPipeline

    task = _task(tiny_sdxl, t2i_file, tmp_path, lora={"rank": 4, "alpha": 8.0}, sample_steps=2)
    example = task.make_example(read_released_file(t2i_file)[0])
    assert example["time_ids"].tolist() == [32, 32, 0, 0, 16, 16]  # a 32 px square image scaled to 16
    losses = _losses(task, read_released_file(t2i_file), steps=6, lr=3e-2)
    assert losses[-1] < losses[0] * 0.97 and losses == sorted(losses, reverse=True), losses
    images = task.sample(task.unet, ["a red square"], [], seed=0)
    assert images[0].size == (16, 16)
    result = task.save_result(task.unet, tmp_path / "result")
    pipe = StableDiffusionXLPipeline.from_pretrained(str(tiny_sdxl))
    pipe.load_lora_weights(str(result))
    assert any("lora" in n for n, _ in pipe.unet.named_parameters())


def test_sdxl_instruct_pix2pix_edit_lora_trains(tiny_sdxl_ip2p, edit_file, tmp_path):
    task = _task(tiny_sdxl_ip2p, edit_file, tmp_path, task="edit", conditioning_dropout=0.2, sample_steps=2)
    losses = _losses(task, read_released_file(edit_file), steps=6, lr=3e-2)
    assert losses[-1] < losses[0] * 0.97 and losses == sorted(losses, reverse=True), losses
    sources = [str(p) for p in sorted(edit_file.parent.glob("in*.png"))]
    assert task.sample(task.unet, ["add a red square"], sources, seed=0)[0].size == (16, 16)


def _dit_folder(tmp_path):
    folder = tmp_path / "flux"
    folder.mkdir()
    (folder / "model_index.json").write_text(json.dumps({
        "_class_name": "FluxPipeline", "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"], "text_encoder_2": ["transformers", "T5EncoderModel"],
        "transformer": ["diffusers", "FluxTransformer2DModel"], "vae": ["diffusers", "AutoencoderKL"]}))
    return folder


def test_dit_pipelines_are_refused_before_launch(tmp_path, t2i_file):
    from finetune.diffusion_task import TaskError
    from finetune.launcher import LaunchError, check_base_model

    folder = _dit_folder(tmp_path)
    config = parse_config(base_config(folder, t2i_file, tmp_path / "out"))
    with pytest.raises(LaunchError, match="FluxPipeline is a DiT"):
        check_base_model(config)
    with pytest.raises(TaskError, match="UNet pipelines .*SDXL"):
        _task(folder, t2i_file, tmp_path)


def test_sdxl_refiner_is_refused_before_launch(tiny_sdxl, tmp_path, t2i_file):
    import shutil

    from finetune.launcher import LaunchError, check_base_model

    refiner = tmp_path / "refiner"
    shutil.copytree(tiny_sdxl, refiner)
    index = json.loads((refiner / "model_index.json").read_text())
    index["text_encoder"], index["tokenizer"] = [None, None], [None, None]
    (refiner / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(LaunchError, match="SDXL refiner"):
        check_base_model(parse_config(base_config(refiner, t2i_file, tmp_path / "out")))
    check_base_model(parse_config(base_config(tiny_sdxl, t2i_file, tmp_path / "out")))  # the base passes


def test_sdxl_refiner_is_refused_by_the_training_task_too(tiny_sdxl, tmp_path, t2i_file):
    import shutil

    from finetune.diffusion_task import TaskError

    refiner = tmp_path / "refiner"
    shutil.copytree(tiny_sdxl, refiner)
    shutil.rmtree(refiner / "text_encoder")
    index = json.loads((refiner / "model_index.json").read_text())
    index["text_encoder"] = [None, None]
    (refiner / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(TaskError, match="SDXL refiner"):
        _task(refiner, t2i_file, tmp_path)
