"""Janus fine-tuning with the Janus-4o recipe on a tiny Janus shaped like the released checkpoints
(bf16 weights, BOS from the tokenizer's post-processor, no pad token declared, transformers' chat template)."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from PIL import Image

from finetune.config import parse_config, save_config
from finetune.datasets import read_released_file
from tests.finetune.conftest import base_config
from tests.finetune.test_fixed_batch import fixed_batch_losses

@pytest.fixture(scope="module")
def tiny_janus(tmp_path_factory):
    from tests.support.tiny_janus import build_tiny_janus

    return build_tiny_janus(tmp_path_factory.mktemp("janus") / "janus", dtype="bfloat16",
                            initializer_range=0.2)


def _task(path, data, tmp_path, **kw):
    from finetune.janus_task import JanusTask

    cfg = parse_config(base_config(path, data, tmp_path / "out", resolution=32, **kw))
    return JanusTask(cfg, torch.device("cpu"), torch.float32)


def _row(prompt, out, sources=()):
    return {"prompt": prompt, "output_image": str(out), "input_images": [str(s) for s in sources]}


def _text(task, ids):
    return task.tokenizer.decode(ids.tolist())


# -- the ids: exactly what inference builds ------------------------------------------------------
def test_text_to_image_ids_are_the_inference_ids(tiny_janus, t2i_file, tmp_path):
    from transformers import AutoProcessor

    from backends.janus_sampling import JanusTokens, text_to_image_inputs

    task = _task(tiny_janus, t2i_file, tmp_path, task="janus-t2i", method="full", prompt_mask_prob=0.0)
    row = read_released_file(t2i_file)[0]
    ids = task.make_example(row)["input_ids"]
    assert ids[0] == task.tokenizer.bos_token_id and (ids == task.tokenizer.bos_token_id).sum() == 1
    assert _text(task, ids[1:]) == f"<|User|>: {row['prompt']}\n\n<|Assistant|>:<begin_of_image>"
    # what transformers' chat template renders for the same turn (typed content parts)
    processor = AutoProcessor.from_pretrained(str(tiny_janus))
    chat = processor.apply_chat_template([{"role": "user", "content": [{"type": "text", "text": row["prompt"]}]}],
                                         add_generation_prompt=True)
    assert task.tokenizer(chat + "<begin_of_image>").input_ids == ids.tolist()
    # the backend's conditional row embeds exactly these ids
    tokens = JanusTokens.of(task.tokenizer, None, task.model.generation_config)
    with torch.no_grad():
        inference = text_to_image_inputs(task.model, task.tokenizer, row["prompt"], tokens)[0]
        assert torch.equal(inference, task.model.get_input_embeddings()(ids))


def test_edit_rows_put_both_blocks_of_every_input_image_inside_the_user_turn(tiny_janus, edit_file, tmp_path):
    from transformers import AutoImageProcessor

    from backends.janus_sampling import condition_embeddings, image_edit_inputs

    task = _task(tiny_janus, edit_file, tmp_path, task="janus-ti2i", method="full", image_token_mask_prob=0.0)
    first = read_released_file(edit_file)[0]
    second = Image.new("RGB", (32, 32), (10, 200, 10))
    second.save(tmp_path / "second.png")
    row = {**first, "input_images": [first["input_images"][0], str(tmp_path / "second.png")]}
    ex = task.make_example(row)
    n = task.n_image_tokens
    block = ("<begin_of_image>" + "<image_placeholder>" * n + "<end_of_image>"
             + "<begin_of_image>" + "<｜▁pad▁｜>" * n + "<end_of_image>")
    assert ex["input_ids"][0] == task.tokenizer.bos_token_id
    assert _text(task, ex["input_ids"][1:]) == \
        f"<|User|>: {block * 2}{row['prompt']}\n\n<|Assistant|>:<begin_of_image>"
    assert ex["source_pixel_values"].shape[0] == 2 and ex["keep_vq"] == [True, True]  # every input image
    processor = AutoImageProcessor.from_pretrained(str(tiny_janus))
    pixels = processor([Image.open(p).convert("RGB") for p in row["input_images"]],
                       return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        trained = condition_embeddings(task.model, ex["input_ids"], ex["source_pixel_values"], task.tokens,
                                       task.tokenizer, ex["keep_vq"])
        inferred = image_edit_inputs(task.model, task.tokenizer, row["prompt"], pixels, task.tokens)[0]
    assert torch.equal(trained, inferred)


def test_pad_id_is_the_generation_configs_not_id_zero(tiny_janus, t2i_file, tmp_path):
    from transformers import GenerationConfig

    task = _task(tiny_janus, t2i_file, tmp_path, task="janus-t2i", method="full", prompt_mask_prob=1.0)
    assert task.tokenizer.pad_token is None  # as DeepSeek's tokenizers
    pad = GenerationConfig.from_pretrained(str(tiny_janus)).pad_token_id
    assert task.pad_id == pad != task.tokenizer.bos_token_id
    ids = task.make_example(read_released_file(t2i_file)[0])["input_ids"]
    assert ids[0] == task.tokenizer.bos_token_id and (ids[1:-1] == pad).all()  # the l_u row of inference
    assert _text(task, ids[-1:]) == "<begin_of_image>"


# -- the recipe --------------------------------------------------------------------------------
def test_input_image_masking_is_one_draw_per_image(tiny_janus, edit_file, tmp_path):
    from backends.janus_sampling import condition_embeddings

    task = _task(tiny_janus, edit_file, tmp_path, task="janus-ti2i", method="full", image_token_mask_prob=0.5)
    row = read_released_file(edit_file)[0]
    row["input_images"] = row["input_images"] * 2
    pad_id = task.pad_id
    pad = task.model.get_input_embeddings()(torch.tensor(pad_id))
    n = task.n_image_tokens
    masked_blocks = 0
    draws = 12
    for i in range(draws):
        torch.manual_seed(i)
        ex = task.make_example(row)
        with torch.no_grad():
            seq = condition_embeddings(task.model, ex["input_ids"], ex["source_pixel_values"], task.tokens,
                                       task.tokenizer, ex["keep_vq"])
        vq_rows = seq[(ex["input_ids"] == pad_id).nonzero().squeeze(-1)].view(2, n, -1)
        for block in vq_rows:
            is_pad = (block == pad).all(-1)
            assert bool(is_pad.all()) or not bool(is_pad.any())  # a whole image's VQ block, or none of it
            masked_blocks += int(is_pad.all())
    assert 0 < masked_blocks < 2 * draws  # about half the images


def test_prompt_masking_applies_to_text_only_rows(tiny_janus, edit_file, tmp_path):
    task = _task(tiny_janus, edit_file, tmp_path, task="janus-ti2i", method="full", prompt_mask_prob=1.0)
    rows = read_released_file(edit_file)
    edit = task.make_example(rows[0])
    assert row_text(task, rows[0]["prompt"]) in _text(task, edit["input_ids"])  # upstream: edit prompts kept
    text_only = task.make_example({**rows[0], "input_images": []})
    assert (text_only["input_ids"][1:-1] == task.pad_id).all()


def row_text(task, prompt):
    return f"{prompt}\n\n<|Assistant|>:"


def test_images_are_padded_to_square_like_inference(tiny_janus, t2i_file, tmp_path):
    from transformers import AutoImageProcessor

    task = _task(tiny_janus, t2i_file, tmp_path, task="janus-t2i", method="full")
    wide = Image.new("RGB", (64, 32), (200, 20, 20))
    wide.paste((20, 20, 200), (0, 0, 8, 32))  # a blue strip at the left edge: center-cropping loses it
    wide.save(tmp_path / "wide.png")
    ex = task.make_example(_row("a wide picture", tmp_path / "wide.png"))
    expected = AutoImageProcessor.from_pretrained(str(tiny_janus))([wide], return_tensors="pt")["pixel_values"][0]
    assert torch.equal(ex["pixel_values"], expected)


def test_full_fine_tune_keeps_fp32_master_weights_of_a_bf16_checkpoint(tiny_janus, edit_file, tmp_path):
    task = _task(tiny_janus, edit_file, tmp_path, task="janus-ti2i", method="full")
    inner = task.model.model
    trainable = dict((n, p) for n, p in task.model.named_parameters() if p.requires_grad)
    assert all(p.dtype == torch.float32 for p in trainable.values())
    assert any(n.startswith("model.vision_model.") for n in trainable)  # the paper trains all parameters
    assert task.model.get_input_embeddings().weight.requires_grad
    assert not any(p.requires_grad for p in inner.vqmodel.parameters())  # no gradient reaches the VQ model
    before = {n: p.detach().clone() for n, p in trainable.items()}
    batch = task.collate([task.make_example(r) for r in read_released_file(edit_file)])
    opt = torch.optim.AdamW(task.parameter_groups(0.1), lr=5e-6)
    task.loss(task.trainable_module(), batch).backward()
    opt.step()
    changed = sum(int((p.detach() != before[n]).sum()) for n, p in trainable.items() if p.grad is not None)
    total = sum(p.numel() for p in trainable.values() if p.grad is not None)
    assert changed / total > 0.9, changed / total  # bf16 weights keep about 1% of such small updates


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


def test_preset_follows_the_released_schedule():
    """Cosine with 5% warm-up down to 15% of the peak, weight decay 0.1 (train_janus.py's defaults)."""
    from finetune.presets import BUILTIN_PRESETS, JANUS4O_PRESET
    from finetune.trainer import build_lr_scheduler

    preset = BUILTIN_PRESETS[JANUS4O_PRESET]
    assert preset["weight_decay"] == 0.1 and preset["learning_rate"] == 5e-6
    cfg = parse_config({**preset, "base_model": "x", "max_steps": 200})
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=cfg.learning_rate)
    sched = build_lr_scheduler(cfg, opt, 200, 1)
    lrs = []
    for _ in range(200):
        lrs.append(sched.get_last_lr()[0] / cfg.learning_rate)
        opt.step()
        sched.step()
    warm = 10  # 5% of 200
    for step in (0, 5, 10, 100, 199):
        if step < warm:
            expected = step / warm
        else:
            progress = (step - warm) / (200 - warm)
            expected = 0.15 + 0.85 * 0.5 * (1 + math.cos(math.pi * progress))
        assert lrs[step] == pytest.approx(expected, abs=1e-6), step


def test_the_paper_preset_fits_the_gpus_it_names(tmp_path):
    """Janus-Pro-7B sizes: full fine-tuning with fp32 master weights needs sharding over the 8 GPUs."""
    from finetune.distributed import GB, estimate_memory, train_command
    from finetune.presets import BUILTIN_PRESETS, JANUS4O_PRESET
    from tests.support.tiny_janus import janus_config, janus_tokenizer

    janus_config(janus_tokenizer(), preset="pro-7b").save_pretrained(str(tmp_path / "janus-pro-7b"))
    preset = BUILTIN_PRESETS[JANUS4O_PRESET]
    cfg = parse_config({**preset, "base_model": str(tmp_path / "janus-pro-7b")})
    estimate = estimate_memory(cfg)
    assert 6.5e9 < estimate.parameters < 7.6e9
    assert estimate.total < 80 * GB and "GB" in estimate.text()
    alone = estimate_memory(cfg.model_copy(update={"num_processes": 1, "sharding": "none"}))
    assert alone.total > 80 * GB  # one 80 GB GPU cannot hold it
    zero2 = estimate_memory(cfg.model_copy(update={"sharding": "zero2"}))
    assert zero2.total < 80 * GB
    command = train_command("run.yaml", cfg)
    assert command[1:3] == ["-m", "accelerate.commands.launch"] and "fsdp.yaml" in command[4]
    assert command[command.index("--num_processes") + 1] == "8"


def test_accelerate_config_files_load():
    from accelerate.commands.config.config_args import load_config_from_file

    from finetune.distributed import ACCELERATE_CONFIGS, SHARDING_FILES

    kinds = {load_config_from_file(str(ACCELERATE_CONFIGS / f)).distributed_type.value
             for f in SHARDING_FILES.values()}
    assert kinds == {"FSDP", "DEEPSPEED"}


def test_a_deepseek_format_base_is_refused_before_launch(tiny_janus, edit_file, tmp_path):
    from finetune.launcher import LaunchError, check_base_model
    from tests.support.tiny_janus import build_tiny_deepseek_janus

    deepseek = build_tiny_deepseek_janus(tiny_janus, tmp_path / "deepseek")
    cfg = parse_config(base_config(deepseek, edit_file, tmp_path / "out", task="janus-ti2i"))
    with pytest.raises(LaunchError, match="backends.janus_convert"):
        check_base_model(cfg)
    check_base_model(cfg.model_copy(update={"base_model": str(tiny_janus)}))  # transformers format: fine


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


def test_a_process_that_is_not_the_main_one_writes_nothing(tiny_janus, edit_file, tmp_path, monkeypatch):
    """Under accelerate every rank runs the checkpoint hooks; only the main process may write files."""
    from accelerate import Accelerator

    from finetune.datasets import validate_rows, write_manifest
    from finetune.trainer import Trainer

    monkeypatch.setattr(Accelerator, "is_main_process", property(lambda self: False))
    report = validate_rows(read_released_file(edit_file), "janus-ti2i", 32)
    manifest = write_manifest(report.usable_rows, tmp_path / "m.jsonl")
    cfg = parse_config(base_config(tiny_janus, edit_file, tmp_path / "out", task="janus-ti2i", resolution=32,
                                   max_steps=1, batch_size=2, checkpointing_steps=1, manifest=str(manifest)))
    Trainer(cfg).run()
    written = [p for p in (tmp_path / "out").rglob("*") if p.is_file() and p.suffix in (".safetensors", ".json")]
    assert written == []


@pytest.mark.slow
@pytest.mark.parametrize("method", ["full", "lora"])
def test_two_process_run_through_accelerate_launch(tiny_janus, edit_file, tmp_path, method):
    """Two CPU processes (gloo) under ``accelerate launch``: the loss runs through the DDP wrapper."""
    from finetune.datasets import validate_rows, write_manifest
    from tests.finetune.test_two_processes import check_two_process_run, run_two_processes

    rows = read_released_file(edit_file)
    rows[0]["input_images"] = []  # a text-only row: the vision encoder sits out of some steps
    report = validate_rows(rows, "janus-ti2i", 32)
    manifest = write_manifest(report.usable_rows, tmp_path / "m.jsonl")
    out = tmp_path / "out"
    cfg = parse_config(base_config(tiny_janus, edit_file, out, task="janus-ti2i", method=method, resolution=32,
                                   max_steps=2, batch_size=1, checkpointing_steps=1, manifest=str(manifest),
                                   mixed_precision="bf16", learning_rate=5e-6))
    check_two_process_run(run_two_processes(save_config(cfg, tmp_path / "config.yaml")), out, 2)
    name = "adapter_model.safetensors" if method == "lora" else "model.safetensors"
    assert (out / "result" / name).exists()
