"""Fine-tuning benchmark: the studio trainer against a minimal hand-written LoRA loop, and metric logging.

Both loops train the same tiny Stable-Diffusion-shaped UNet with the same LoRA config (diffusers
text-to-image LoRA example recipe: rank 4 on to_q/to_k/to_v/to_out.0, AdamW, MSE on the noise),
the same batch and images, each in a fresh process; steps/s is measured after warm-up and peak
memory is the process's maximum RSS. The trainer runs with its real SQLite tracker. Variants are
interleaved and repeated; the best of each is compared.

    .venv/bin/python bench/finetune_bench.py [--steps 40] [--repeats 2]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WARMUP = 5


def _rows(folder: Path) -> list[dict]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    colors = [(230, 30, 30), (30, 30, 230), (30, 200, 30), (230, 230, 30), (200, 30, 200), (30, 200, 200),
              (240, 140, 20), (20, 20, 20)]
    for i, rgb in enumerate(colors):
        img = Image.new("RGB", (64, 64), (128, 128, 128))
        img.paste(rgb, (16, 16, 48, 48))
        path = folder / f"{i}.png"
        img.save(path)
        rows.append({"prompt": f"a square number {i}", "output_image": str(path), "input_images": [],
                     "ref": f"row {i}"})
    return rows


def _config(work: Path, steps: int) -> dict:
    return {"base_model": str(work / "pipe"), "task": "text-to-image", "method": "lora", "resolution": 64,
            "batch_size": 4, "learning_rate": 1e-4, "max_steps": steps, "device": "cpu",
            "lora": {"rank": 4, "alpha": 4.0, "target_modules": "unet-attention"}, "seed": 0,
            "checkpointing_steps": 100_000, "output_dir": str(work / "out-trainer"),
            "manifest": str(work / "manifest.jsonl")}


# -- the two variants, each run in its own process -----------------------------------------------
def run_trainer(work: Path, steps: int) -> list[float]:
    import shutil

    from finetune.config import parse_config
    from finetune.reporting import RunReporter
    from finetune.tracker import RunTracker
    from finetune.trainer import Trainer
    from studio.db import Database

    shutil.rmtree(work / "out-trainer", ignore_errors=True)
    db_path = work / "bench.db"
    if db_path.exists():
        db_path.unlink()
    tracker = RunTracker(Database(f"sqlite:///{db_path}"))
    config = parse_config(_config(work, steps))
    run_id = tracker.create_run(config=config.to_dict(), output_dir=config.output_dir, log_path="-", device="cpu")
    stamps: list[float] = []

    class Timed(RunReporter):
        def metrics(self, step, values):
            super().metrics(step, values)
            stamps.append(time.perf_counter())

    Trainer(config, Timed(tracker, run_id)).run()
    return stamps


def run_hand_loop(work: Path, steps: int) -> list[float]:
    """The diffusers text-to-image LoRA example's inner loop, written out by hand."""
    import torch
    import torch.nn.functional as F
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from peft import LoraConfig
    from transformers import AutoTokenizer, CLIPTextModel

    from finetune.diffusion_task import image_to_tensor

    torch.manual_seed(0)
    base = str(work / "pipe")
    tokenizer = AutoTokenizer.from_pretrained(base, subfolder="tokenizer")
    text_encoder = CLIPTextModel.from_pretrained(base, subfolder="text_encoder")
    vae = AutoencoderKL.from_pretrained(base, subfolder="vae")
    unet = UNet2DConditionModel.from_pretrained(base, subfolder="unet")
    sched = DDPMScheduler.from_pretrained(base, subfolder="scheduler")
    for m in (unet, vae, text_encoder):
        m.requires_grad_(False)
    unet.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights="gaussian",
                                target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    params = [p for p in unet.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=1e-2)
    rows = [json.loads(line) for line in (work / "manifest.jsonl").read_text().splitlines()]
    stamps = []
    step = 0
    while step < steps:
        order = torch.randperm(len(rows)).tolist()
        for i in range(0, len(order), 4):
            chunk = [rows[j] for j in order[i:i + 4]]
            pixels = torch.stack([image_to_tensor(r["output_image"], 64, True, False) for r in chunk])
            ids = tokenizer([r["prompt"] for r in chunk], padding="max_length", truncation=True,
                            max_length=tokenizer.model_max_length, return_tensors="pt").input_ids
            with torch.no_grad():
                latents = vae.encode(pixels).latent_dist.sample() * vae.config.scaling_factor
                hidden = text_encoder(ids, return_dict=False)[0]
            noise = torch.randn_like(latents)
            t = torch.randint(0, sched.config.num_train_timesteps, (latents.shape[0],)).long()
            pred = unet(sched.add_noise(latents, noise, t), t, hidden, return_dict=False)[0]
            loss = F.mse_loss(pred.float(), noise.float())
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            loss.item()
            step += 1
            stamps.append(time.perf_counter())
            if step >= steps:
                break
    return stamps


def _child(variant: str, work: str, steps: int) -> None:
    fn = run_trainer if variant == "trainer" else run_hand_loop
    stamps = fn(Path(work), steps)
    durations = sorted(b - a for a, b in zip(stamps[WARMUP - 1:], stamps[WARMUP:]))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"steps_per_s": (len(stamps) - WARMUP) / (stamps[-1] - stamps[WARMUP - 1]),
                      "median_step_s": durations[len(durations) // 2],
                      "p10_step_s": durations[len(durations) // 10], "peak_mb": peak_mb}))


def _spawn(variant: str, work: Path, steps: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", variant, "--work", str(work), "--steps", str(steps)],
                         capture_output=True, text=True, cwd=str(ROOT), env=dict(os.environ, TQDM_DISABLE="1"))
    if out.returncode != 0:
        raise SystemExit(f"{variant} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- metric logging -------------------------------------------------------------------------------
def bench_logging(work: Path, n_steps: int = 1000, keys: int = 10) -> dict:
    """Cost of logging 1,000 metrics (per second of training) through the batched writer vs one commit per value."""
    from sqlalchemy import insert

    from finetune.models import FinetuneMetric
    from finetune.tracker import MetricWriter, RunTracker
    from studio.db import Database

    db = Database(f"sqlite:///{work / 'metrics.db'}")
    tracker = RunTracker(db)
    cfg = {"task": "text-to-image", "method": "lora", "base_model": "x", "name": "m"}
    run_a = tracker.create_run(config=cfg, output_dir="-", log_path="-", device="cpu")
    run_b = tracker.create_run(config=cfg, output_dir="-", log_path="-", device="cpu")
    writer = MetricWriter(db, run_a)
    t0 = time.perf_counter()
    for step in range(n_steps):
        writer.log(step, {f"m{k}": step * 0.1 + k for k in range(keys)})
    writer.flush()
    batched = time.perf_counter() - t0
    naive_n = 500
    t0 = time.perf_counter()
    for i in range(naive_n):
        with db.session() as s:
            s.execute(insert(FinetuneMetric), [{"run_id": run_b, "key": "m0", "step": i, "value": 0.0,
                                                 "wall_time": 0.0}])
    naive = (time.perf_counter() - t0) / naive_n * (n_steps * keys)
    # listing with a million metric rows stays on the latest-value table
    rows = [{"run_id": run_b, "key": "loss", "step": i, "value": 1.0, "wall_time": 0.0} for i in range(1_000_000)]
    with db.session() as s:
        s.execute(insert(FinetuneMetric), rows)
    t0 = time.perf_counter()
    for _ in range(20):
        tracker.list_runs()
    listing = (time.perf_counter() - t0) / 20
    t0 = time.perf_counter()
    curve = tracker.curve(run_b, "loss", max_points=2000)
    curve_s = time.perf_counter() - t0
    db.dispose()
    total = n_steps * keys
    return {"metrics": total, "batched_s": batched, "per_metric_us": batched / total * 1e6,
            "naive_s": naive, "listing_ms": listing * 1e3, "curve_ms": curve_s * 1e3, "curve_points": len(curve)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child")
    ap.add_argument("--work")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if args.child:
        _child(args.child, args.work, args.steps)
        return
    from finetune.datasets import write_manifest
    from finetune.tiny import build_tiny_pipeline

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        build_tiny_pipeline(work / "pipe", sample_size=16, unet_channels=(32, 64), vae_channels=(32, 64),
                            text_dim=32)
        write_manifest(_rows(work / "images"), work / "manifest.jsonl")
        results: dict[str, list[dict]] = {"trainer": [], "hand": []}
        for _ in range(args.repeats):
            for variant in ("hand", "trainer"):
                results[variant].append(_spawn(variant, work, args.steps))
        peak = {v: min(x["peak_mb"] for x in r) for v, r in results.items()}
        # the machine is shared: per-step times are pooled over the interleaved repeats and the
        # median and 10th percentile are compared (the mean is dominated by other people's load)
        pooled = {v: {k: min(x[k] for x in r) for k in ("median_step_s", "p10_step_s")}
                  for v, r in results.items()}
        print(f"LoRA training, tiny UNet, batch 4 @64px, {args.steps} steps per run (first {WARMUP} are warm-up), "
              f"{args.repeats} interleaved runs per variant, {os.cpu_count()} cores")
        for v, label in (("hand", "hand-written loop"), ("trainer", "studio trainer   ")):
            runs = ", ".join(f"{x['steps_per_s']:.2f}" for x in results[v])
            print(f"  {label}: median step {1 / pooled[v]['median_step_s']:.2f} steps/s, p10 step "
                  f"{1 / pooled[v]['p10_step_s']:.2f} steps/s (whole-run rates: {runs}), peak RSS {peak[v]:.0f} MB")
        for k, name in (("median_step_s", "median"), ("p10_step_s", "p10")):
            print(f"  speed ratio trainer/hand ({name} step): "
                  f"{pooled['hand'][k] / pooled['trainer'][k]:.3f}  (target >= 0.95)")
        print(f"  memory ratio trainer/hand: {peak['trainer'] / peak['hand']:.3f}  (target <= 1.10)")
        log = bench_logging(work)
        print(f"Metric logging: {log['metrics']} values (1,000 steps x 10 metrics) in {log['batched_s'] * 1e3:.0f} ms"
              f" = {log['per_metric_us']:.1f} us per metric -> {log['per_metric_us'] * 1000 / 1e6 * 100:.2f}% of each"
              " second at 1,000 metrics/s")
        print(f"  one commit per value would take ~{log['naive_s']:.1f} s for the same values "
              f"({log['naive_s'] / log['batched_s']:.0f}x)")
        print(f"  with 1,000,000 metric rows: run listing {log['listing_ms']:.1f} ms, "
              f"loss curve ({log['curve_points']} points) {log['curve_ms']:.0f} ms")


if __name__ == "__main__":
    main()
