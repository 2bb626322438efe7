"""DPO on Janus image tokens on a tiny Janus (fp32, CPU): the log-probabilities by hand, the β convention,
the adapter-disabled reference, a tracked run that lowers the DPO loss, exact resume."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from PIL import Image

from finetune.config import parse_config
from finetune.datasets import write_manifest
from finetune.preference_data import read_pair_rows, validate_pairs
from finetune.reporting import RunReporter
from finetune.tracker import RunTracker
from finetune.trainer import Trainer, checkpoint_dirs
from studio.db import Database
from studio.preferences.pickapic import Pair, write_pairs
from tests.finetune.conftest import COLORS


@pytest.fixture(scope="module")
def tiny_janus(tmp_path_factory):
    from tests.support.tiny_janus import build_tiny_janus

    return build_tiny_janus(tmp_path_factory.mktemp("janus-dpo") / "janus", initializer_range=0.2)


def _square(path: Path, rgb, size=32) -> str:
    img = Image.new("RGB", (size, size), (128, 128, 128))
    img.paste(rgb, (8, 8, 24, 24))
    img.save(path)
    return str(path)


def _pair_folder(root: Path, n: int = 8, *, edit: bool = False) -> Path:
    """``n`` decided pairs: the named colour's square wins over a dark grey one (winner in either column)."""
    src = root / "src"
    src.mkdir(parents=True)
    pairs = []
    for i in range(n):
        name, rgb = list(COLORS.items())[i % len(COLORS)]
        good, bad = _square(src / f"good{i}.png", rgb), _square(src / f"bad{i}.png", (60, 60, 60))
        source = _square(src / f"src{i}.png", (128, 128, 128)) if edit else None
        first_wins = i % 2 == 0
        pairs.append(Pair(caption=f"{'make it' if edit else 'a'} {name} square", image_0=good if first_wins else bad,
                          image_1=bad if first_wins else good, label_0=1.0 if first_wins else 0.0,
                          source_image=source))
    write_pairs(pairs, root / "pairs")
    return root / "pairs"


@pytest.fixture
def pairs(tmp_path) -> Path:
    return _pair_folder(tmp_path / "t2i")


def _config(janus, folder, out, tmp_path, **kw):
    cfg = {"base_model": str(janus), "task": "janus-dpo", "method": "lora", "resolution": 32, "batch_size": 4,
           "learning_rate": 1e-3, "max_steps": 4, "device": "cpu", "output_dir": str(out),
           "dataset": {"source": "preferences", "name": str(folder)}, "checkpointing_steps": 100,
           "lora": {"rank": 8, "alpha": 8.0, "target_modules": "janus-llm-mlp"}}
    cfg.update(kw)
    config = parse_config(cfg)
    rows = validate_pairs(read_pair_rows(folder), config.task, 32).usable_rows
    manifest = write_manifest(rows, tmp_path / f"{Path(out).name}-manifest.jsonl")
    return config.model_copy(update={"manifest": str(manifest)})


def _task(config):
    from finetune.janus_dpo_task import JanusDPOTask

    return JanusDPOTask(config, torch.device("cpu"), torch.float32)


def _batch(task, folder, n=2):
    return task.collate([task.make_example(r) for r in read_pair_rows(folder)[:n]])


# -- the sequence and its log-probability ----------------------------------------------------------
def test_the_prompt_is_the_supervised_tasks_text_to_image_layout(tiny_janus, pairs, tmp_path):
    from finetune.janus_task import JanusTask

    config = _config(tiny_janus, pairs, tmp_path / "out", tmp_path)
    task = _task(config)
    row = read_pair_rows(pairs)[0]
    sft = JanusTask(config.model_copy(update={"task": "janus-t2i", "prompt_mask_prob": 0.0}),
                    torch.device("cpu"), torch.float32)
    expected = sft.make_example({"prompt": row["prompt"], "output_image": row["chosen_image"], "input_images": []})
    ex = task.make_example(row)
    assert torch.equal(ex["input_ids"], expected["input_ids"])
    assert task.tokenizer.decode(ex["input_ids"][1:].tolist()) == \
        f"<|User|>: {row['prompt']}\n\n<|Assistant|>:<begin_of_image>"
    assert torch.equal(ex["chosen_pixel_values"], expected["pixel_values"])  # the checkpoint's image processor


def _hand_logp(janus, prompt: torch.Tensor, tokens: torch.Tensor) -> float:
    """Σ_k log p(tokens[k] | prompt, tokens[:k]), one unpadded forward per token, from the logits."""
    total = 0.0
    for k in range(tokens.shape[0]):
        seq = torch.cat([prompt, janus.prepare_embeddings_for_image_generation(tokens[:k]).reshape(k, prompt.shape[-1])])
        hidden = janus.model.language_model(inputs_embeds=seq[None]).last_hidden_state[0, -1]
        logits = janus.model.generation_head(hidden).double()
        total += float(logits[tokens[k]] - torch.logsumexp(logits, -1))
    return total


def test_sequence_log_probability_equals_a_hand_computation(tiny_janus, pairs, tmp_path):
    """Two pairs with prompts of different lengths (left padding), chosen and rejected images."""
    from backends.janus_sampling import condition_embeddings

    task = _task(_config(tiny_janus, pairs, tmp_path / "out", tmp_path, method="full"))
    rows = read_pair_rows(pairs)
    rows[1] = {**rows[1], "prompt": "a much longer prompt about a square"}
    batch = task.collate([task.make_example(r) for r in rows[:2]])
    janus = task.model.eval()
    with torch.no_grad():
        targets = task.image_tokens(batch)
        assert targets.shape == (4, task.n_image_tokens)
        got = task.module.logps(janus, batch, targets)
        for i, ex in enumerate(batch * 2):  # chosen rows first, then rejected
            prompt = condition_embeddings(janus, ex["input_ids"], None, task.tokens, task.tokenizer)
            assert got[i].item() == pytest.approx(_hand_logp(janus, prompt, targets[i]), abs=1e-3)
        chosen = janus.model.vqmodel.encode(batch[0]["chosen_pixel_values"][None]).image_tokens.view(-1)
        assert torch.equal(targets[0], chosen)  # the model's own VQ encoder


def test_edit_pairs_are_conditioned_on_the_source_image_as_janus_4o_inference_is(tiny_janus, tmp_path):
    """janus-dpo-edit: the source image's two blocks in the user turn, its VQ tokens kept (the full condition
    of inference); the log-probabilities follow that condition, and a few steps lower the loss."""
    from backends.janus_sampling import image_edit_inputs
    from finetune.janus_task import JanusTask

    folder = _pair_folder(tmp_path / "edit", edit=True)
    config = _config(tiny_janus, folder, tmp_path / "out", tmp_path, task="janus-dpo-edit")
    task = _task(config)
    row = read_pair_rows(folder)[0]
    ex = task.make_example(row)
    sft = JanusTask(config.model_copy(update={"task": "janus-ti2i", "image_token_mask_prob": 0.0}),
                    torch.device("cpu"), torch.float32)
    expected = sft.make_example({"prompt": row["prompt"], "output_image": row["chosen_image"],
                                 "input_images": row["input_images"]})
    assert torch.equal(ex["input_ids"], expected["input_ids"])
    assert torch.equal(ex["source_pixel_values"], expected["source_pixel_values"])
    batch = [ex]
    with torch.no_grad():
        targets = task.image_tokens(batch)
        got = task.module.logps(task.model, batch, targets)
        prompt = image_edit_inputs(task.model, task.tokenizer, row["prompt"], ex["source_pixel_values"],
                                   task.tokens)[0]
        for i in range(2):
            assert got[i].item() == pytest.approx(_hand_logp(task.model, prompt, targets[i]), abs=1e-3)
    batch = _batch(task, folder)
    optimizer = torch.optim.AdamW(task.trainable_parameters(), lr=1e-2)
    for _ in range(3):
        task.loss(task.trainable_module(), batch).backward()
        optimizer.step()
        optimizer.zero_grad()
    assert task.last_metrics["dpo_loss"] < math.log(2)


def test_chosen_more_likely_than_under_the_reference_gives_a_loss_below_log_2(tiny_janus, pairs, tmp_path):
    task = _task(_config(tiny_janus, pairs, tmp_path / "out", tmp_path))
    batch = _batch(task, pairs)
    module = task.trainable_module()
    with torch.no_grad():
        targets = task.image_tokens(batch)
        policy = module.logps(task.model, batch, targets)
        assert module(batch, targets).item() == pytest.approx(math.log(2))  # the adapter starts at zero

        # the policy gives each chosen image 1 nat more than the reference, the rejected ones the same
        favour_chosen = policy - torch.tensor([1.0, 1.0, 0.0, 0.0])
        loss = module.pair_loss(batch, policy, favour_chosen).item()
        assert loss < math.log(2)
        assert loss == pytest.approx(math.log1p(math.exp(-0.1)), rel=1e-5)  # -log σ(β · 1), β = 0.1
        assert module.figures["reward_margin"] == pytest.approx(0.1, rel=1e-4)
        assert module.figures["reward_accuracy"] == 1.0
        assert module.pair_loss(batch, policy, policy - torch.tensor([0.0, 0.0, 1.0, 1.0])).item() > math.log(2)

    doubled = _task(_config(tiny_janus, pairs, tmp_path / "out2", tmp_path, beta_dpo=0.2)).trainable_module()
    with torch.no_grad():
        doubled.pair_loss(batch, policy, favour_chosen)
    assert doubled.figures["reward_margin"] == pytest.approx(0.2, rel=1e-4)


def test_beta_defaults_to_the_dpo_papers_value_for_these_tasks(tiny_janus, pairs, tmp_path):
    cfg = parse_config({"base_model": str(tiny_janus), "task": "janus-dpo",
                        "dataset": {"source": "preferences", "name": str(pairs)}})
    assert cfg.beta_dpo == 0.1
    assert parse_config(cfg.to_dict()).beta_dpo == 0.1  # the saved run config keeps it
    diffusion = parse_config({"base_model": "x", "task": "diffusion-dpo", "dataset": {"source": "preferences"}})
    assert diffusion.beta_dpo == 5000.0  # Diffusion-DPO keeps its own convention


# -- the reference ---------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["lora", "full"])
def test_the_reference_is_the_frozen_base_and_never_moves(tiny_janus, pairs, tmp_path, method):
    from transformers import JanusForConditionalGeneration

    task = _task(_config(tiny_janus, pairs, tmp_path / "out", tmp_path, method=method))
    assert (task.ref_model is None) == (method == "lora")  # LoRA: no second copy of the model
    base = JanusForConditionalGeneration.from_pretrained(str(tiny_janus), dtype=torch.float32).eval()
    batch = _batch(task, pairs)
    targets = task.image_tokens(batch)

    def reference_logps():
        with torch.no_grad(), task.reference() as ref:
            return task.module.logps(ref, batch, targets)

    with torch.no_grad():
        expected = task.module.logps(base, batch, targets)
        policy_before = task.module.logps(task.model, batch, targets)
    torch.testing.assert_close(reference_logps(), expected)
    optimizer = torch.optim.AdamW(task.trainable_parameters(), lr=1e-2 if method == "lora" else 1e-4)
    for _ in range(3):
        task.loss(task.trainable_module(), batch).backward()
        optimizer.step()
        optimizer.zero_grad()
    assert set(task.last_metrics) >= {"dpo_loss", "reward_margin", "reward_accuracy"}
    torch.testing.assert_close(reference_logps(), expected)  # the reference did not move
    with torch.no_grad():
        policy_after = task.module.logps(task.model, batch, targets)
    assert not torch.allclose(policy_after, policy_before)  # the policy (adapter back on) has learnt
    assert task.last_metrics["dpo_loss"] < math.log(2)


def test_gradient_checkpointing_gives_the_same_gradients(tiny_janus, pairs, tmp_path):
    """The adapter is switched off and on again inside the forward; the backward pass's recomputation
    (checkpointing, as the preset trains) sees the policy as its forward did."""
    grads = []
    for checkpointing in (False, True):
        torch.manual_seed(0)  # the same random adapter initialisation
        task = _task(_config(tiny_janus, pairs, tmp_path / f"gc-{checkpointing}", tmp_path,
                             gradient_checkpointing=checkpointing))
        assert task.model.model.language_model.is_gradient_checkpointing == checkpointing
        batch = _batch(task, pairs)
        for p in task.trainable_parameters():  # a non-zero adapter, so the two passes differ
            torch.nn.init.normal_(p, std=0.1)
        task.loss(task.trainable_module(), batch).backward()
        grads.append([p.grad.clone() for p in task.trainable_parameters()])
    assert any(g.abs().sum() > 0 for g in grads[0])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)


# -- through the training process ------------------------------------------------------------------
def test_a_tracked_run_lowers_the_dpo_loss_and_writes_an_adapter(tiny_janus, tmp_path):
    from peft import PeftConfig

    from finetune.results import result_entry

    folder = _pair_folder(tmp_path / "many", n=10)
    tracker = RunTracker(Database(f"sqlite:///{tmp_path / 'runs.db'}"))
    cfg = _config(tiny_janus, folder, tmp_path / "run", tmp_path, max_steps=8, checkpointing_steps=4,
                  dataset={"source": "preferences", "name": str(folder), "validation_split": 0.2})
    run_id = tracker.create_run(config=cfg.to_dict(), output_dir=cfg.output_dir, log_path="x.log", device="cpu")
    assert Trainer(cfg, RunReporter(tracker, run_id)).run() == "completed"
    losses = [v for _, v in tracker.curve(run_id, "dpo_loss")]
    assert len(losses) == 8 and losses[0] == pytest.approx(math.log(2), abs=1e-4)  # the adapter starts at zero
    assert losses[-1] < losses[0] - 0.05, losses
    assert [v for _, v in tracker.curve(run_id, "val_dpo_loss")][-1] < math.log(2)  # held-out pairs too
    assert [v for _, v in tracker.curve(run_id, "reward_accuracy")][-1] > 0.5
    for key in ("val_dpo_loss", "val_reward_margin", "val_reward_accuracy"):
        assert [s for s, _ in tracker.curve(run_id, key)] == [4, 8]
    result = Path(tracker.get(run_id).result_path)
    assert (result / "adapter_model.safetensors").exists()
    assert set(PeftConfig.from_pretrained(str(result)).target_modules) >= {"q_proj", "gate_proj"}
    entry = result_entry(tracker.get(run_id))  # the adapter becomes a Janus backend on its base
    assert entry.engine == "janus"
    assert entry.options == {"model": str(tiny_janus), "loras": [{"path": str(result), "scale": 1.0}]}


class StopAtStep(RunReporter):
    def __init__(self, tracker, run_id, step):
        super().__init__(tracker, run_id, poll_s=0.0)
        self.stop_at, self.seen = step, 0

    def metrics(self, step, values):
        self.seen = max(self.seen, step)
        super().metrics(step, values)

    def stop_requested(self):
        return self.seen >= self.stop_at


def test_stop_then_resume_gives_identical_adapter_weights(tiny_janus, pairs, tmp_path):
    from safetensors.torch import load_file

    tracker = RunTracker(Database(f"sqlite:///{tmp_path / 'runs.db'}"))
    # batch 4 of 8 pairs: the stop at step 2 falls on an epoch boundary
    straight = _config(tiny_janus, pairs, tmp_path / "straight", tmp_path)
    assert Trainer(straight).run() == "completed"
    cfg = _config(tiny_janus, pairs, tmp_path / "resumed", tmp_path)
    run_id = tracker.create_run(config=cfg.to_dict(), output_dir=cfg.output_dir, log_path="x.log", device="cpu")
    assert Trainer(cfg, StopAtStep(tracker, run_id, 2)).run() == "stopped"
    assert (checkpoint_dirs(cfg.output_dir)[-1] / "adapter.safetensors").exists()
    assert Trainer(cfg, RunReporter(tracker, run_id)).run() == "completed"
    a = load_file(str(Path(straight.output_dir) / "result" / "adapter_model.safetensors"))
    b = load_file(str(Path(cfg.output_dir) / "result" / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and a
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)
    assert [s for s, _ in tracker.curve(run_id, "reward_margin")] == [1, 2, 3, 4]


@pytest.mark.slow
def test_two_process_run_through_accelerate_launch(tiny_janus, pairs, tmp_path):
    """Two CPU processes (gloo) in bf16: both passes run inside the DDP-wrapped forward."""
    from finetune.config import save_config
    from tests.finetune.test_two_processes import check_two_process_run, run_two_processes

    out = tmp_path / "out"
    cfg = _config(tiny_janus, pairs, out, tmp_path, max_steps=2, batch_size=1, checkpointing_steps=1,
                  mixed_precision="bf16")
    check_two_process_run(run_two_processes(save_config(cfg, tmp_path / "config.yaml")), out, 2)
    assert (out / "result" / "adapter_model.safetensors").exists()
