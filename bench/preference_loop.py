"""The preference loop on a CPU: generate pairs, judge them, train Diffusion-DPO and winner SFT, compare.

1. The shipped tiny-shapes base model draws two images (different seeds) for each training prompt
   ("a <colour> <shape>" with the training shapes), several pairs per prompt.
2. The pixel judge (studio.preferences.pixel_judge: requested colour and shape measured on the
   pixels) picks the winner; judge ties are left out. The pairs are written in Pick-a-Pic layout.
3. The studio trainer (finetune.trainer, tasks diffusion-dpo and winner-sft) trains a LoRA on the
   same pairs with the same settings, one after the other.
4. Each adapter and the base draw every HELD-OUT prompt (the other shapes) with the same seeds;
   the judge compares adapter vs base; win rate over decisive comparisons, Wilson 95% interval.

    OMP_NUM_THREADS=1 .venv/bin/python bench/preference_loop.py [--threads 1] [--steps 150] [--grid PATH]

Prints one JSON summary. Meant to finish in minutes on two cores; the timings depend on the load.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

COLOURS = ["red", "orange", "yellow", "green", "blue", "purple", "pink", "black", "gray", "brown"]
TRAIN_SHAPES = ["circle", "square", "triangle"]
HELD_OUT_SHAPES = ["star", "heart", "diamond"]
SIZE = 32


def reference_judge():
    """The pixel judge with each shape's fill measured on the procedural engine's drawing of it."""
    from PIL import Image

    from backends.base import GenerationRequest
    from studio.core import Studio
    from studio.preferences.pixel_judge import PixelJudge
    from studio.settings import load_settings

    studio = Studio(load_settings(data_dir=Path(tempfile.mkdtemp(prefix="pref-loop-judge-"))))
    try:
        engine = studio.backends.get("procedural")
        refs = {}
        for shape in TRAIN_SHAPES + HELD_OUT_SHAPES:
            img = engine.generate(GenerationRequest(prompt=f"a gray {shape}", seed=0, width=64, height=64)).image
            refs[shape] = img.convert("RGB").resize((SIZE, SIZE), Image.LANCZOS)
    finally:
        studio.close()
    return PixelJudge.from_references(refs)


def draw(pipe, prompts: list[str], seeds: list[int], steps: int, guidance: float, chunk: int = 24):
    import torch

    images = []
    for i in range(0, len(prompts), chunk):
        gens = [torch.Generator().manual_seed(s) for s in seeds[i:i + chunk]]
        images += pipe(prompts[i:i + chunk], num_inference_steps=steps, guidance_scale=guidance,
                       height=SIZE, width=SIZE, generator=gens).images
    return images


def make_pairs(pipe, judge, work: Path, per_prompt: int, steps: int, guidance: float) -> tuple[Path, dict]:
    from studio.preferences.pickapic import Pair, write_pairs

    prompts = [f"a {c} {s}" for c in COLOURS for s in TRAIN_SHAPES]
    jobs = [(p, 1000 + 2 * k) for p in prompts for k in range(per_prompt)]
    first = draw(pipe, [p for p, _ in jobs], [s for _, s in jobs], steps, guidance)
    second = draw(pipe, [p for p, _ in jobs], [s + 1 for _, s in jobs], steps, guidance)
    img_dir = work / "generated"
    img_dir.mkdir(parents=True, exist_ok=True)
    pairs, ties = [], 0
    for n, ((prompt, seed), a, b) in enumerate(zip(jobs, first, second)):
        verdict = judge.compare(a, b, prompt)
        if verdict == "tie":
            ties += 1
            continue
        pa, pb = img_dir / f"{n:04d}-a.png", img_dir / f"{n:04d}-b.png"
        a.save(pa)
        b.save(pb)
        pairs.append(Pair(caption=prompt, image_0=str(pa), image_1=str(pb), label_0=1.0 if verdict == "a" else 0.0))
    folder = work / "pairs"
    write_pairs(pairs, folder)
    return folder, {"generated_pairs": len(jobs), "judge_ties": ties, "decisive_pairs": len(pairs)}


def train(task: str, pairs: Path, out: Path, args) -> Path:
    from finetune.config import parse_config
    from finetune.datasets import write_manifest
    from finetune.preference_checks import preference_refusal
    from finetune.preference_data import read_pair_rows, validate_pairs
    from finetune.presets import BUILTIN_PRESETS, CPU_PREFERENCE_PRESET
    from finetune.trainer import Trainer

    preset = dict(BUILTIN_PRESETS[CPU_PREFERENCE_PRESET])
    preset.update({"task": task, "dataset": {"source": "preferences", "name": str(pairs)},
                   "output_dir": str(out), "max_steps": args.steps, "sample_every": 0,
                   "checkpointing_steps": args.steps})
    if args.batch_size:
        preset["batch_size"] = args.batch_size
    if args.lr:
        preset["learning_rate"] = args.lr
    if args.beta:
        preset["beta_dpo"] = args.beta
    config = parse_config(preset)
    report = validate_pairs(read_pair_rows(pairs), task, config.resolution)
    refusal = preference_refusal(config, report)
    if refusal:
        raise SystemExit(refusal)
    manifest = write_manifest(report.usable_rows, out / "manifest.jsonl")
    config = config.model_copy(update={"manifest": str(manifest)})
    Trainer(config).run()
    return out / "result"


def compare(pipe, judge, adapter: Path | None, base_images, jobs, steps, guidance):
    """Judge verdicts adapter-vs-base per held-out (prompt, seed) and the adapter's images."""
    pipe.load_lora_weights(str(adapter))
    images = draw(pipe, [p for p, _ in jobs], [s for _, s in jobs], steps, guidance)
    pipe.unload_lora_weights()
    verdicts = [judge.compare(a, b, p) for (p, _), a, b in zip(jobs, images, base_images)]
    return verdicts, images


def summary(verdicts: list[str]) -> dict:
    from studio.annotation.stats import wilson_interval

    wins, losses = verdicts.count("a"), verdicts.count("b")
    n = wins + losses
    lo, hi = wilson_interval(wins, n) if n else (0.0, 1.0)
    return {"wins": wins, "losses": losses, "ties": verdicts.count("tie"), "decisive": n,
            "win_rate": round(wins / n, 3) if n else None, "wilson95": [round(lo, 3), round(hi, 3)]}


def save_grid(rows: list[list], path: Path) -> None:
    from PIL import Image

    cols = max(len(r) for r in rows)
    grid = Image.new("RGB", (SIZE * cols, SIZE * len(rows)), "white")
    for y, row in enumerate(rows):
        for x, img in enumerate(row):
            grid.paste(img, (SIZE * x, SIZE * y))
    grid.resize((grid.width * 4, grid.height * 4), Image.NEAREST).save(path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--pairs-per-prompt", type=int, default=3)
    ap.add_argument("--held-out-seeds", type=int, default=4)
    ap.add_argument("--steps", type=int, default=150, help="training steps of each method")
    ap.add_argument("--sample-steps", type=int, default=10)
    ap.add_argument("--guidance", type=float, default=4.0)
    ap.add_argument("--grid", default="", help="also save a before/after grid (rows: base, winner SFT, DPO)")
    ap.add_argument("--work", default="")
    ap.add_argument("--pairs", default="", help="reuse a pairs folder from an earlier run (skips generation)")
    ap.add_argument("--batch-size", type=int, default=0, help="override the preset's batch size")
    ap.add_argument("--lr", type=float, default=0.0, help="override the preset's learning rate")
    ap.add_argument("--beta", type=float, default=0.0, help="override the preset's beta_dpo")
    args = ap.parse_args()

    import torch
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    from finetune.presets import CPU_BASE_MODEL

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    timings = {}
    work = Path(args.work or tempfile.mkdtemp(prefix="pref-loop-"))
    pipe = StableDiffusionPipeline.from_pretrained(str(CPU_BASE_MODEL), safety_checker=None)
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    judge = reference_judge()

    if args.pairs:
        pairs, data = Path(args.pairs), {"reused_pairs": args.pairs}
    else:
        pairs, data = make_pairs(pipe, judge, work, args.pairs_per_prompt, args.sample_steps, args.guidance)
    timings["generate_and_judge_s"] = round(time.perf_counter() - t0, 1)
    results = {}
    for task in ("winner-sft", "diffusion-dpo"):
        t = time.perf_counter()
        results[task] = train(task, pairs, work / task, args)
        timings[f"train_{task}_s"] = round(time.perf_counter() - t, 1)

    t = time.perf_counter()
    jobs = [(f"a {c} {s}", 5000 + k) for c in COLOURS for s in HELD_OUT_SHAPES for k in range(args.held_out_seeds)]
    base_images = draw(pipe, [p for p, _ in jobs], [s for _, s in jobs], args.sample_steps, args.guidance)
    out = {"data": data, "held_out_prompts": len(jobs) // args.held_out_seeds, "held_out_seeds": args.held_out_seeds}
    drawn = {}
    for task, adapter in results.items():
        verdicts, drawn[task] = compare(pipe, judge, adapter, base_images, jobs, args.sample_steps, args.guidance)
        out[task] = summary(verdicts)
    timings["held_out_compare_s"] = round(time.perf_counter() - t, 1)
    timings["total_s"] = round(time.perf_counter() - t0, 1)
    out["timings"] = timings
    out["settings"] = {"threads": args.threads, "steps": args.steps, "batch_size": args.batch_size or "preset",
                       "lr": args.lr or "preset", "beta_dpo": args.beta or "preset", "sample_steps": args.sample_steps,
                       "guidance": args.guidance, "judge_margin": judge.margin}
    if args.grid:
        pick = [i for i in range(0, len(jobs), args.held_out_seeds)][::3][:10]
        save_grid([[base_images[i] for i in pick], [drawn["winner-sft"][i] for i in pick],
                   [drawn["diffusion-dpo"][i] for i in pick]], Path(args.grid))
        out["grid_prompts"] = [jobs[i][0] for i in pick]
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
