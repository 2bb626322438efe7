"""Preference training: the losses by hand, the adapter-disabled reference, exact resume, refusals."""
from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import torch
from PIL import Image

from finetune.config import ConfigError, parse_config
from finetune.datasets import read_manifest, write_manifest
from finetune.dpo import diffusion_dpo_loss, dpo_loss
from finetune.preference_data import read_pair_rows, validate_pairs
from finetune.reporting import RunReporter
from finetune.tracker import RunTracker
from finetune.trainer import Trainer
from studio.db import Database
from studio.preferences.pickapic import Pair, read_pairs, write_pairs
from tests.finetune.conftest import COLORS


def _softplus(x: float) -> float:
    return math.log1p(math.exp(x))


# -- the losses ------------------------------------------------------------------------------------
def test_diffusion_dpo_loss_matches_a_hand_computation():
    # pair 1: the policy lowered the winner's error and raised the loser's relative to the reference
    # inside = -beta/2 * ((0.2-0.3) - (0.5-0.4)) = -5 * (-0.2) = +1
    # pair 2: the opposite, inside = -5 * ((0.4-0.3) - (0.3-0.4)) = -1
    mw, ml = torch.tensor([0.2, 0.4]), torch.tensor([0.5, 0.3])
    rw, rl = torch.tensor([0.3, 0.3]), torch.tensor([0.4, 0.4])
    loss, figures = diffusion_dpo_loss(mw, ml, rw, rl, beta=10.0)
    assert loss.item() == pytest.approx((_softplus(-1.0) + _softplus(1.0)) / 2, rel=1e-6)
    assert figures["reward_accuracy"] == pytest.approx(0.5)
    assert figures["reward_margin"] == pytest.approx(0.0, abs=1e-6)
    weighted, _ = diffusion_dpo_loss(mw, ml, rw, rl, beta=10.0, weights=torch.tensor([3.0, 1.0]))
    assert weighted.item() == pytest.approx((3 * _softplus(-1.0) + _softplus(1.0)) / 4, rel=1e-6)
    # β scales the logit: doubling it doubles the margin of a one-sided pair
    _, one = diffusion_dpo_loss(mw[:1], ml[:1], rw[:1], rl[:1], beta=20.0)
    assert one["reward_margin"] == pytest.approx(2.0) and one["reward_accuracy"] == 1.0


def test_diffusion_dpo_gradient_lowers_the_winner_error_and_raises_the_loser_error():
    mw, ml = torch.tensor([0.3], requires_grad=True), torch.tensor([0.3], requires_grad=True)
    loss, _ = diffusion_dpo_loss(mw, ml, torch.tensor([0.3]), torch.tensor([0.3]), beta=100.0)
    loss.backward()
    # at equality the loss is log 2, and descent moves e_w down and e_l up by β/4 per unit step
    assert loss.item() == pytest.approx(math.log(2))
    assert mw.grad.item() == pytest.approx(100.0 / 4) and ml.grad.item() == pytest.approx(-100.0 / 4)


def test_token_dpo_loss_matches_a_hand_computation():
    # inside = 0.1 * ((-1 - -1.5) - (-2 - -1.5)) = 0.1 * (0.5 + 0.5) = 0.1
    loss, figures = dpo_loss(torch.tensor([-1.0]), torch.tensor([-2.0]), torch.tensor([-1.5]),
                             torch.tensor([-1.5]), beta=0.1)
    assert loss.item() == pytest.approx(_softplus(-0.1), rel=1e-6)
    assert figures["reward_margin"] == pytest.approx(0.1) and figures["reward_accuracy"] == 1.0


# -- data ------------------------------------------------------------------------------------------
def _square(path: Path, rgb, size=16) -> str:
    img = Image.new("RGB", (size, size), (128, 128, 128))
    img.paste(rgb, (4, 4, 12, 12))
    img.save(path)
    return str(path)


@pytest.fixture
def pair_folder(tmp_path) -> Path:
    """Eight decided pairs (the named colour wins over grey-on-grey) and one tie, in Pick-a-Pic layout."""
    src = tmp_path / "src"
    src.mkdir()
    pairs = []
    for i in range(8):
        name, rgb = list(COLORS.items())[i % len(COLORS)]
        good = _square(src / f"good{i}.png", rgb)
        bad = _square(src / f"bad{i}.png", (100, 100, 100))
        first_wins = i % 2 == 0
        pairs.append(Pair(caption=f"a {name} square", image_0=good if first_wins else bad,
                          image_1=bad if first_wins else good, label_0=1.0 if first_wins else 0.0))
    pairs.append(Pair(caption="a red square", image_0=str(src / "good0.png"), image_1=str(src / "bad0.png"),
                      label_0=0.5))
    write_pairs(pairs, tmp_path / "pairs")
    return tmp_path / "pairs"


def test_pairs_round_trip_in_pick_a_pic_columns(pair_folder):
    first = json.loads((pair_folder / "pairs.jsonl").read_text().splitlines()[0])
    assert {"caption", "jpg_0", "jpg_1", "label_0", "label_1"} <= set(first)
    assert first["label_0"] + first["label_1"] == 1.0
    pairs = read_pairs(pair_folder)
    assert len(pairs) == 9 and [p.label_0 for p in pairs].count(0.5) == 1
    rows = read_pair_rows(pair_folder)
    # the winner is the coloured square whichever column it is in
    assert all(Path(r["chosen_image"]).name.startswith("good") for r in rows if not r["tie"])
    report = validate_pairs(rows, "diffusion-dpo", 16)
    assert report.usable == 8 and report.warning_counts["tie skipped"] == 1 and not report.error_counts


def test_an_imported_pair_cannot_point_outside_its_folder(pair_folder):
    from studio.preferences.pickapic import PairFileError

    lines = (pair_folder / "pairs.jsonl").read_text().splitlines()
    row = json.loads(lines[0])
    row["jpg_0"] = "../../../etc/passwd"
    (pair_folder / "pairs.jsonl").write_text(json.dumps(row) + "\n")
    with pytest.raises(PairFileError, match="outside the folder"):
        read_pairs(pair_folder)


# -- training --------------------------------------------------------------------------------------
def _dpo_config(pipe, folder, out, tmp_path, **kw):
    cfg = {"base_model": str(pipe), "task": "diffusion-dpo", "method": "lora", "resolution": 16,
           "batch_size": 2, "learning_rate": 5e-3, "max_steps": 4, "device": "cpu", "beta_dpo": 500.0,
           "dataset": {"source": "preferences", "name": str(folder)}, "output_dir": str(out),
           "checkpointing_steps": 100, "lora": {"rank": 4, "alpha": 4.0}}
    cfg.update(kw)
    config = parse_config(cfg)
    rows = validate_pairs(read_pair_rows(folder), config.task, 16).usable_rows
    manifest = write_manifest(rows, tmp_path / f"{out.name}-manifest.jsonl")
    return config.model_copy(update={"manifest": str(manifest)})


def test_the_reference_is_the_base_with_the_adapter_off_and_never_moves(tiny_pipeline, pair_folder, tmp_path):
    from diffusers import UNet2DConditionModel

    from finetune.preference_task import DiffusionDPOTask

    config = _dpo_config(tiny_pipeline, pair_folder, tmp_path / "ref", tmp_path)
    task = DiffusionDPOTask(config, torch.device("cpu"), torch.float32)
    assert task.ref_unet is None  # LoRA: no second copy of the UNet
    base = UNet2DConditionModel.from_pretrained(tiny_pipeline, subfolder="unet").eval()
    torch.manual_seed(0)
    x, t, h = torch.randn(2, 4, 8, 8), torch.tensor([10, 500]), torch.randn(2, 32, 16)

    def reference_pred():
        with torch.no_grad(), task.reference() as ref:
            return ref(x, t, h, return_dict=False)[0]

    with torch.no_grad():
        expected = base(x, t, h, return_dict=False)[0]
        policy_before = task.unet(x, t, h, return_dict=False)[0]
    torch.testing.assert_close(reference_pred(), expected)
    optimizer = torch.optim.AdamW(task.trainable_parameters(), lr=5e-2)
    rows = read_pair_rows(pair_folder)[:2]
    batch = torch.utils.data.default_collate([task.make_example(r) for r in rows])
    for _ in range(3):
        loss = task.loss(task.unet, batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    assert set(task.last_metrics) >= {"dpo_loss", "reward_margin", "reward_accuracy"}
    torch.testing.assert_close(reference_pred(), expected)  # the reference did not move
    with torch.no_grad():
        policy_after = task.unet(x, t, h, return_dict=False)[0]
    assert not torch.allclose(policy_after, policy_before)  # the adapter is back on and has learnt


class StopAtStep(RunReporter):
    def __init__(self, tracker, run_id, step):
        super().__init__(tracker, run_id, poll_s=0.0)
        self.stop_at, self.seen = step, 0

    def metrics(self, step, values):
        self.seen = max(self.seen, step)
        super().metrics(step, values)

    def stop_requested(self):
        return self.seen >= self.stop_at


def test_dpo_stop_then_resume_gives_identical_weights_and_logs_dpo_figures(tiny_pipeline, pair_folder, tmp_path):
    from safetensors.torch import load_file

    tracker = RunTracker(Database(f"sqlite:///{tmp_path / 'runs.db'}"))
    # batch 4 of 8 pairs: the stop at step 2 falls on an epoch boundary
    straight = _dpo_config(tiny_pipeline, pair_folder, tmp_path / "straight", tmp_path, batch_size=4)
    assert Trainer(straight).run() == "completed"
    cfg = _dpo_config(tiny_pipeline, pair_folder, tmp_path / "resumed", tmp_path, batch_size=4)
    run_id = tracker.create_run(config=cfg.to_dict(), output_dir=cfg.output_dir, log_path="x.log", device="cpu")
    assert Trainer(cfg, StopAtStep(tracker, run_id, 2)).run() == "stopped"
    assert Trainer(cfg, RunReporter(tracker, run_id)).run() == "completed"
    a = load_file(str(Path(straight.output_dir) / "result" / "pytorch_lora_weights.safetensors"))
    b = load_file(str(Path(cfg.output_dir) / "result" / "pytorch_lora_weights.safetensors"))
    assert a.keys() == b.keys() and a
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)
    assert [s for s, _ in tracker.curve(run_id, "reward_margin")] == [1, 2, 3, 4]
    assert [s for s, _ in tracker.curve(run_id, "reward_accuracy")] == [1, 2, 3, 4]


def test_held_out_pairs_report_dpo_loss_margin_and_accuracy(tiny_pipeline, pair_folder, tmp_path):
    tracker = RunTracker(Database(f"sqlite:///{tmp_path / 'runs.db'}"))
    cfg = _dpo_config(tiny_pipeline, pair_folder, tmp_path / "val", tmp_path, checkpointing_steps=2,
                      dataset={"source": "preferences", "name": str(pair_folder), "validation_split": 0.25})
    run_id = tracker.create_run(config=cfg.to_dict(), output_dir=cfg.output_dir, log_path="x.log", device="cpu")
    assert Trainer(cfg, RunReporter(tracker, run_id)).run() == "completed"
    for key in ("val_dpo_loss", "val_reward_margin", "val_reward_accuracy"):
        assert [s for s, _ in tracker.curve(run_id, key)] == [2, 4]
    assert all(0.0 <= v <= 1.0 for _, v in tracker.curve(run_id, "val_reward_accuracy"))


def test_winner_sft_trains_on_the_chosen_images_only(tiny_pipeline, pair_folder, tmp_path):
    from finetune.preference_task import WinnerSFTTask

    config = _dpo_config(tiny_pipeline, pair_folder, tmp_path / "sft", tmp_path, task="winner-sft")
    task = WinnerSFTTask(config, torch.device("cpu"), torch.float32)
    row = read_pair_rows(pair_folder)[1]  # the winner is in column 1 here
    ex = task.make_example(row)
    from finetune.diffusion_task import image_to_tensor

    torch.testing.assert_close(ex["pixel_values"], image_to_tensor(row["chosen_image"], 16, True, False))
    assert Trainer(config).run() == "completed"
    assert (Path(config.output_dir) / "result" / "pytorch_lora_weights.safetensors").exists()


@pytest.mark.parametrize("draws", [{}, {"random_flip": True}, {"proportion_empty_prompts": 0.5}],
                         ids=["plain", "flip", "empty-prompts"])
def test_dpo_stop_mid_epoch_then_resume_gives_identical_weights(tiny_pipeline, pair_folder, tmp_path, draws):
    """Batch 2 of 8 pairs: the stop at step 3 falls inside the second epoch (position saved and restored)."""
    from safetensors.torch import load_file

    tracker = RunTracker(Database(f"sqlite:///{tmp_path / 'runs.db'}"))
    common = dict(batch_size=2, max_steps=6, **draws)
    straight = _dpo_config(tiny_pipeline, pair_folder, tmp_path / "straight", tmp_path, **common)
    assert Trainer(straight).run() == "completed"
    cfg = _dpo_config(tiny_pipeline, pair_folder, tmp_path / "resumed", tmp_path, **common)
    run_id = tracker.create_run(config=cfg.to_dict(), output_dir=cfg.output_dir, log_path="x.log", device="cpu")
    assert Trainer(cfg, StopAtStep(tracker, run_id, 5)).run() == "stopped"
    state = json.loads(next((Path(cfg.output_dir) / "checkpoints").glob("checkpoint-5/trainer_state.json")).read_text())
    assert state == {"step": 5, "epoch": 1, "batches_done": 1}
    assert Trainer(cfg, RunReporter(tracker, run_id)).run() == "completed"
    a = load_file(str(Path(straight.output_dir) / "result" / "pytorch_lora_weights.safetensors"))
    b = load_file(str(Path(cfg.output_dir) / "result" / "pytorch_lora_weights.safetensors"))
    assert a.keys() == b.keys() and a
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)
    assert [s for s, _ in tracker.curve(run_id, "dpo_loss")] == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("task", ["diffusion-dpo", "winner-sft"])
def test_a_share_of_training_prompts_is_left_empty_so_guidance_learns_too(tiny_pipeline, pair_folder, tmp_path, task):
    """The Diffusion-DPO authors' recipe: 20% of captions empty, so the unconditional prediction that
    classifier-free guidance subtracts moves with the conditional one."""
    from finetune.preference_task import DiffusionDPOTask, WinnerSFTTask

    row = read_pair_rows(pair_folder)[0]
    cls = DiffusionDPOTask if task == "diffusion-dpo" else WinnerSFTTask
    empty_share = {}
    for share in (0.0, 0.2):
        config = _dpo_config(tiny_pipeline, pair_folder, tmp_path / f"{task}-{share}", tmp_path, task=task,
                             proportion_empty_prompts=share)
        t = cls(config, torch.device("cpu"), torch.float32)
        empty, prompt = t.tokenize([""])[0], t.tokenize([row["prompt"]])[0]
        random.seed(0)
        ids = [t.make_example(row)["input_ids"] for _ in range(500)]
        assert all(torch.equal(x, empty) or torch.equal(x, prompt) for x in ids)
        empty_share[share] = sum(torch.equal(x, empty) for x in ids) / len(ids)
    assert empty_share[0.0] == 0 and 0.15 < empty_share[0.2] < 0.25


def test_edit_dpo_drops_the_same_conditioning_for_both_images_of_a_pair(tmp_path):
    """InstructPix2Pix's conditioning dropout in edit DPO: what the UNet is fed for a pair's winner and
    loser (prompt and source latents) is the same, dropped or not."""
    from finetune.preference_task import DiffusionDPOTask
    from finetune.tiny import build_tiny_pipeline

    pipe = build_tiny_pipeline(tmp_path / "ip2p", sample_size=8, in_channels=8, unet_channels=(16, 32),
                               vae_channels=(16, 32), text_dim=16)
    src = tmp_path / "src"
    src.mkdir()
    grey = _square(src / "source.png", (128, 128, 128))
    pairs = [Pair(caption=f"make it {name}", image_0=_square(src / f"good{i}.png", rgb),
                  image_1=_square(src / f"bad{i}.png", (100, 100, 100)), label_0=1.0, source_image=grey)
             for i, (name, rgb) in enumerate(list(COLORS.items()) * 2)]
    write_pairs(pairs, tmp_path / "pairs")
    config = _dpo_config(pipe, tmp_path / "pairs", tmp_path / "out", tmp_path, task="diffusion-dpo-edit",
                         conditioning_dropout=0.3, batch_size=8)
    task = DiffusionDPOTask(config, torch.device("cpu"), torch.float32)
    fed = []
    task.unet.register_forward_pre_hook(lambda module, args: fed.append((args[0], args[2])))
    rows = read_manifest(config.manifest)
    torch.manual_seed(0)
    task.loss(task.trainable_module(), torch.utils.data.default_collate([task.make_example(r) for r in rows]))
    sample, hidden = fed[0]  # the policy's call; the reference is fed the same
    n = len(rows)
    torch.testing.assert_close(hidden[:n], hidden[n:])
    torch.testing.assert_close(sample[:n, 4:], sample[n:, 4:])
    source_dropped = sample[:n, 4:].flatten(1).abs().sum(1) == 0
    assert source_dropped.any() and not source_dropped.all()


def test_an_empty_prompt_share_out_of_range_is_refused(tiny_pipeline, pair_folder, tmp_path):
    with pytest.raises(ConfigError, match="proportion_empty_prompts"):
        _dpo_config(tiny_pipeline, pair_folder, tmp_path / "bad", tmp_path, proportion_empty_prompts=1.0)


@pytest.mark.slow
def test_dpo_lora_with_two_processes(tiny_pipeline, pair_folder, tmp_path):
    """``accelerate launch --num_processes 2`` (gloo on CPU): both ranks train, one writes the adapter."""
    from safetensors.torch import load_file

    from finetune.config import save_config
    from tests.finetune.test_two_processes import check_two_process_run, run_two_processes

    out = tmp_path / "two"
    cfg = _dpo_config(tiny_pipeline, pair_folder, out, tmp_path, batch_size=2, max_steps=2, checkpointing_steps=1)
    result = run_two_processes(save_config(cfg, tmp_path / "config.yaml"))
    check_two_process_run(result, out, 2)
    weights = load_file(str(out / "result" / "pytorch_lora_weights.safetensors"))
    ups = [w for k, w in weights.items() if ".lora.up." in k or "lora_B" in k]  # zero before training
    assert ups and all(bool(w.abs().sum()) for w in ups)
