"""The preference loop on a CPU: generate pairs, judge them, train Diffusion-DPO and winner SFT, compare.

1. The shipped tiny-shapes base model draws sixteen images (different seeds) for each training prompt
   ("a <colour> <shape>"); the judge ranks them and its best is paired with its worst, the second
   best with the second worst, and so on (``--pairs-per-prompt`` pairs; ``--images-per-prompt 0``:
   independent pairs of two seeds instead). The training and held-out prompts are disjoint
   (``--split``: held-out colour-shape combinations, or held-out shapes).
2. The pixel judge (studio.preferences.pixel_judge: requested colour and shape measured on the
   pixels) picks the winner; judge ties are left out, and so are pairs closer than
   ``--train-min-gap`` or not decided by the part named by ``--decided-by``. The pairs are written
   in Pick-a-Pic layout; the summary counts how many the colour and how many the shape decided.
3. The studio trainer (finetune.trainer, tasks diffusion-dpo and winner-sft) trains a LoRA on the
   same pairs with the same settings, one after the other.
4. Each adapter and the base draw every HELD-OUT prompt with the same seeds; the same judge compares
   adapter vs base; win rate over decisive comparisons, Wilson 95% interval.

    OMP_NUM_THREADS=1 .venv/bin/python bench/preference_loop.py [--fold 1] [--held-out-seed-start 7000] [--grid PATH]

Prints one JSON summary with wall and CPU seconds per phase (1 thread: CPU time is what the loop
costs on an idle core; on a shared machine the wall time mostly measures the other jobs).
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
SHAPES = TRAIN_SHAPES + HELD_OUT_SHAPES
SIZE = 32


def prompt_split(split: str, fold: int = 0) -> tuple[list[str], list[str]]:
    """(training prompts, held-out prompts); disjoint in both splits.

    ``shapes``: train on circle/square/triangle, hold out star/heart/diamond (every colour), so the
    adapter must carry what it learnt to shapes it was never trained on. ``combos``: every colour and
    every shape is trained on, a third of the colour-shape combinations (each colour with two shapes,
    each shape with three or four colours) are held out: unseen prompts built from seen words.
    ``fold`` (0, 1 or 2) picks which third, so a setting chosen on one fold can be checked on prompts
    it was never evaluated on.
    """
    if split == "shapes":
        return ([f"a {c} {s}" for c in COLOURS for s in TRAIN_SHAPES],
                [f"a {c} {s}" for c in COLOURS for s in HELD_OUT_SHAPES])
    combos = [(i, j) for i in range(len(COLOURS)) for j in range(len(SHAPES))]
    held = [f"a {COLOURS[i]} {SHAPES[j]}" for i, j in combos if (i + j) % 3 == fold]
    train = [f"a {COLOURS[i]} {SHAPES[j]}" for i, j in combos if (i + j) % 3 != fold]
    return train, held


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


def ranked_pairs(pipe, judge, prompts: list[str], per_prompt: int, images: int, steps: int, guidance: float,
                 seed_start: int = 1000):
    """``images`` samples per prompt ranked by the judge; the i-th best paired with the i-th worst.

    On-policy preference pipelines pair the best and worst of several samples: the pairs with the
    largest score gaps, so the judge's preference, not sampling noise, is what separates them.
    Returns (first images, second images, (prompt, seed) of each pair's first image).
    """
    seeds = [(p, seed_start + k) for p in prompts for k in range(images)]
    drawn = draw(pipe, [p for p, _ in seeds], [s for _, s in seeds], steps, guidance)
    first, second, jobs = [], [], []
    for i, prompt in enumerate(prompts):
        group = list(zip(seeds[i * images:(i + 1) * images], drawn[i * images:(i + 1) * images]))
        group.sort(key=lambda item: -judge.score(item[1], prompt))
        for k in range(min(per_prompt, images // 2)):
            (job, best), (_, worst) = group[k], group[-1 - k]
            first.append(best)
            second.append(worst)
            jobs.append(job)
    return first, second, jobs


def make_pairs(pipe, judge, prompts: list[str], work: Path, per_prompt: int, steps: int, guidance: float,
               min_gap: float, decided_by: str = "any", ranked: int = 0, seed_start: int = 1000) -> tuple[Path, dict]:
    """Two images per (prompt, seed pair), judged; decisive pairs with a score gap >= ``min_gap`` kept.

    With ``ranked`` = N, the two images of a pair are the i-th best and i-th worst of N samples of
    the prompt (see :func:`ranked_pairs`) instead of two independent samples.

    Also counts what decided each decisive pair: the colour error or the shape (fill) error,
    whichever changed more between the two images; ``decided_by`` keeps only one kind for training.
    """
    from studio.preferences.pickapic import Pair, write_pairs

    if ranked:
        first, second, jobs = ranked_pairs(pipe, judge, prompts, per_prompt, ranked, steps, guidance, seed_start)
    else:
        jobs = [(p, 1000 + 2 * k) for p in prompts for k in range(per_prompt)]
        first = draw(pipe, [p for p, _ in jobs], [s for _, s in jobs], steps, guidance)
        second = draw(pipe, [p for p, _ in jobs], [s + 1 for _, s in jobs], steps, guidance)
    img_dir = work / "generated"
    img_dir.mkdir(parents=True, exist_ok=True)
    pairs, ties, by_colour, gaps = [], 0, 0, []
    for n, ((prompt, seed), a, b) in enumerate(zip(jobs, first, second)):
        (ca, sa), (cb, sb) = judge.errors(a, prompt), judge.errors(b, prompt)
        gap = abs((ca + sa) - (cb + sb))
        if judge.compare(a, b, prompt) == "tie":
            ties += 1
            continue
        gaps.append(gap)
        kind = "colour" if abs(ca - cb) >= abs(sa - sb) else "shape"
        by_colour += kind == "colour"
        if gap < min_gap or decided_by not in ("any", kind):
            continue
        pa, pb = img_dir / f"{seed_start}-{n:04d}-a.png", img_dir / f"{seed_start}-{n:04d}-b.png"
        a.save(pa)
        b.save(pb)
        pairs.append(Pair(caption=prompt, image_0=str(pa), image_1=str(pb),
                          label_0=1.0 if (ca + sa) < (cb + sb) else 0.0, extra={"judge_gap": round(gap, 4), "decided_by": kind}))
    folder = work / "pairs"
    write_pairs(pairs, folder)
    gaps.sort()
    return folder, {"training_prompts": len(prompts), "generated_pairs": len(jobs), "judge_ties": ties,
                    "decisive_pairs": len(gaps), "decided_by_colour": by_colour,
                    "decided_by_shape": len(gaps) - by_colour,
                    "median_score_gap": round(gaps[len(gaps) // 2], 3) if gaps else None,
                    "train_min_gap": min_gap, "train_decided_by": decided_by, "training_pairs": len(pairs)}


def merged_pairs(folders: list[Path], out: Path) -> Path:
    """One pairs folder with the pairs of every folder (image names differ by their seeds)."""
    from studio.preferences.pickapic import read_pairs, write_pairs

    write_pairs([p for folder in folders for p in read_pairs(folder)], out)
    return out


def gap_weighted(pairs: Path) -> Path:
    """The same pairs with each weighted by its judge score gap (mean weight 1), next to the original.

    A pair the judge barely separated says less about what it prefers than one it separated
    clearly; the DPO loss is a weighted mean over each batch, so this shifts the gradient toward the
    clear pairs without changing its scale.
    """
    src = pairs / "pairs.jsonl" if pairs.is_dir() else pairs
    rows = [json.loads(line) for line in src.read_text(encoding="utf-8").splitlines() if line.strip()]
    mean = sum(r["judge_gap"] for r in rows) / len(rows)
    out = src.with_name("pairs-gap-weighted.jsonl")
    out.write_text("".join(json.dumps({**r, "weight": round(r["judge_gap"] / mean, 4)}) + "\n" for r in rows),
                   encoding="utf-8")
    return out


def metric_log_class():
    from finetune.reporting import RunReporter

    class MetricLog(RunReporter):
        """Keeps the trainer's per-step figures (a run without a database keeps none)."""

        def __init__(self) -> None:
            super().__init__(None)
            self.rows: list[dict] = []

        def metrics(self, step: int, values: dict[str, float]) -> None:
            self.rows.append({"step": step, **values})

        def fit(self) -> dict:
            """Mean training figures over the first and the last fifth of the steps, and the
            validation-split figures (DPO on pairs held back from training) at each evaluation."""
            train = [r for r in self.rows if "loss" in r]
            n = max(1, len(train) // 5)
            keys = [k for k in ("loss", "reward_accuracy", "reward_margin") if train and k in train[-1]]
            out = {part: {k: round(sum(r[k] for r in rows) / len(rows), 3) for k in keys}
                   for part, rows in (("first_fifth", train[:n]), ("last_fifth", train[-n:]))}
            val = [{k: round(v, 3) if k != "step" else v for k, v in r.items()}
                   for r in self.rows if "val_reward_accuracy" in r]
            if val:
                out["validation"] = val
            return out

    return MetricLog


def train(task: str, pairs: Path, out: Path, args) -> tuple[Path, dict]:
    from finetune.config import parse_config
    from finetune.datasets import write_manifest
    from finetune.preference_checks import preference_refusal
    from finetune.preference_data import read_pair_rows, validate_pairs
    from finetune.presets import BUILTIN_PRESETS, CPU_PREFERENCE_PRESET
    from finetune.trainer import Trainer

    MetricLog = metric_log_class()
    preset = dict(BUILTIN_PRESETS[CPU_PREFERENCE_PRESET])
    dataset = {**preset["dataset"], "name": str(pairs)}
    if args.validation_split is not None:
        dataset["validation_split"] = args.validation_split
    steps = args.steps or preset["max_steps"]
    preset.update({"task": task, "dataset": dataset, "output_dir": str(out), "max_steps": steps,
                   "sample_every": 0, "checkpointing_steps": args.eval_every or steps})
    if args.batch_size:
        preset["batch_size"] = args.batch_size
    if args.lr:
        preset["learning_rate"] = args.lr
    if args.beta:
        preset["beta_dpo"] = args.beta
    if args.seed is not None:
        preset["seed"] = args.seed
    if args.rank:
        preset["lora"] = {**preset["lora"], "rank": args.rank, "alpha": float(args.rank)}
    if args.targets:
        preset["lora"] = {**preset["lora"], "target_modules": args.targets}
    if args.method:
        preset["method"] = args.method
    if args.empty_prompts is not None:
        preset["proportion_empty_prompts"] = args.empty_prompts
    config = parse_config(preset)
    report = validate_pairs(read_pair_rows(pairs), task, config.resolution)
    refusal = preference_refusal(config, report)
    if refusal:
        raise SystemExit(refusal)
    manifest = write_manifest(report.usable_rows, out / "manifest.jsonl")
    config = config.model_copy(update={"manifest": str(manifest)})
    reporter = MetricLog()
    Trainer(config, reporter).run()
    return out / "result", reporter.fit()


def compare(pipe, judge, adapter: Path | None, base_images, jobs, steps, guidance):
    """Judge verdicts adapter-vs-base per held-out (prompt, seed) and the adapter's images (a LoRA
    folder, or a whole pipeline folder from ``--method full``)."""
    if (adapter / "model_index.json").exists():
        from diffusers import UNet2DConditionModel

        base_unet, pipe.unet = pipe.unet, UNet2DConditionModel.from_pretrained(str(adapter / "unet"))
        try:
            images = draw(pipe, [p for p, _ in jobs], [s for _, s in jobs], steps, guidance)
        finally:
            pipe.unet = base_unet
    else:
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


def save_grid(base: list, adapters: list[list], path: Path) -> None:
    from PIL import Image

    rows = [base, *adapters]
    cols = max(len(r) for r in rows)
    grid = Image.new("RGB", (SIZE * cols, SIZE * len(rows)), "white")
    for y, row in enumerate(rows):
        for x, img in enumerate(row):
            grid.paste(img, (SIZE * x, SIZE * y))
    grid.resize((grid.width * 4, grid.height * 4), Image.NEAREST).save(path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--split", choices=("combos", "shapes"), default="combos",
                    help="which prompts are held out (see prompt_split)")
    ap.add_argument("--pairs-per-prompt", type=int, default=4)
    ap.add_argument("--train-min-gap", type=float, default=0.0,
                    help="keep only training pairs whose judge scores differ by at least this much")
    ap.add_argument("--decided-by", choices=("any", "colour", "shape"), default="any",
                    help="keep only training pairs the judge decided by this part of its score")
    ap.add_argument("--images-per-prompt", type=int, default=16,
                    help="draw N images per training prompt and pair the judge's best with its worst "
                         "(--pairs-per-prompt pairs: best-worst, second best-second worst, ...); "
                         "0: independent pairs of two seeds")
    ap.add_argument("--held-out-seeds", type=int, default=16,
                    help="seeds per held-out prompt; 0: no held-out comparison (choosing settings on the "
                         "validation split alone)")
    ap.add_argument("--held-out-seed-start", type=int, default=5000,
                    help="first held-out seed; a fresh range checks a setting on images never looked at")
    ap.add_argument("--validation-seeds", type=int, default=0,
                    help="also judge each adapter against the base on the TRAINING prompts with N fresh seeds "
                         "(from 9000): a win rate to choose settings by without the held-out prompts")
    ap.add_argument("--fold", type=int, choices=(0, 1, 2), default=0,
                    help="which third of the colour-shape combinations is held out (--split combos)")
    ap.add_argument("--gap-weight", action="store_true",
                    help="weight each training pair by its judge score gap (mean weight 1)")
    ap.add_argument("--validation-split", type=float, default=None,
                    help="override the preset's validation split (DPO figures on pairs held back from training)")
    ap.add_argument("--eval-every", type=int, default=0,
                    help="validation figures every N steps (default: at the end)")
    ap.add_argument("--steps", type=int, default=0, help="training steps of each method (0: the preset's)")
    ap.add_argument("--sample-steps", type=int, default=10)
    ap.add_argument("--guidance", type=float, default=4.0)
    ap.add_argument("--grid", default="", help="also save a before/after grid (rows: base, winner SFT, DPO)")
    ap.add_argument("--work", default="")
    ap.add_argument("--pairs", default="", help="reuse a pairs folder from an earlier run (skips generation)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="rounds of the loop: from round 2, the previous DPO adapter draws new pairs and DPO "
                         "trains again on all of them (judged like round 1's adapter)")
    ap.add_argument("--tasks", default="winner-sft,diffusion-dpo", help="methods to train, comma-separated")
    ap.add_argument("--batch-size", type=int, default=0, help="override the preset's batch size")
    ap.add_argument("--lr", type=float, default=0.0, help="override the preset's learning rate")
    ap.add_argument("--beta", type=float, default=0.0, help="override the preset's beta_dpo")
    ap.add_argument("--seed", type=int, default=None, help="override the preset's training seed")
    ap.add_argument("--rank", type=int, default=0, help="override the preset's LoRA rank (alpha = rank)")
    ap.add_argument("--method", choices=("lora", "full"), default="",
                    help="override the preset's method (full: the whole UNet, the reference a frozen copy)")
    ap.add_argument("--empty-prompts", type=float, default=None,
                    help="override the preset's proportion_empty_prompts (share of training prompts left empty)")
    ap.add_argument("--targets", default="", help="override the preset's LoRA target modules (a preset of "
                                                  "finetune.lora.TARGET_PRESETS)")
    args = ap.parse_args()

    import torch
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    from finetune.presets import CPU_BASE_MODEL

    torch.set_num_threads(args.threads)
    t0, c0 = time.perf_counter(), time.process_time()
    timings = {}
    work = Path(args.work or tempfile.mkdtemp(prefix="pref-loop-"))
    pipe = StableDiffusionPipeline.from_pretrained(str(CPU_BASE_MODEL), safety_checker=None)
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    judge = reference_judge()
    train_prompts, held_prompts = prompt_split(args.split, args.fold)
    assert not set(train_prompts) & set(held_prompts)

    if args.pairs:
        pairs, data = Path(args.pairs), {"reused_pairs": args.pairs}
    else:
        pairs, data = make_pairs(pipe, judge, train_prompts, work, args.pairs_per_prompt, args.sample_steps,
                                 args.guidance, max(args.train_min_gap, judge.margin), args.decided_by,
                                 args.images_per_prompt)
    if args.gap_weight:
        pairs = gap_weighted(pairs)
        data["gap_weighted"] = str(pairs)
    timings["generate_and_judge_s"] = round(time.perf_counter() - t0, 1)
    results, fits = {}, {}
    for task in args.tasks.split(","):
        t = time.perf_counter()
        results[task], fits[task] = train(task, pairs, work / task, args)
        timings[f"train_{task}_s"] = round(time.perf_counter() - t, 1)
    for r in range(2, args.rounds + 1):
        # the loop again: the latest DPO adapter draws new pairs of the training prompts (new seeds), the
        # judge ranks them, and DPO trains afresh from the base on every round's pairs
        t = time.perf_counter()
        latest = results[f"diffusion-dpo-round{r - 1}" if r > 2 else "diffusion-dpo"]
        pipe.load_lora_weights(str(latest))
        more, more_data = make_pairs(pipe, judge, train_prompts, work / f"round{r}", args.pairs_per_prompt,
                                     args.sample_steps, args.guidance, max(args.train_min_gap, judge.margin),
                                     args.decided_by, args.images_per_prompt, seed_start=1000 * r)
        pipe.unload_lora_weights()
        pairs = merged_pairs([pairs, more], work / f"round{r}" / "all-pairs")
        data[f"round{r}"] = more_data
        task = f"diffusion-dpo-round{r}"
        results[task], fits[task] = train("diffusion-dpo", pairs, work / task, args)
        timings[f"round{r}_s"] = round(time.perf_counter() - t, 1)

    if args.validation_seeds:
        t = time.perf_counter()
        val_jobs = [(p, 9000 + k) for p in train_prompts for k in range(args.validation_seeds)]
        val_base = draw(pipe, [p for p, _ in val_jobs], [s for _, s in val_jobs], args.sample_steps, args.guidance)
        for task, adapter in results.items():
            verdicts, _ = compare(pipe, judge, adapter, val_base, val_jobs, args.sample_steps, args.guidance)
            fits[task]["training_prompts_fresh_seeds"] = summary(verdicts)
        timings["validation_compare_s"] = round(time.perf_counter() - t, 1)

    t = time.perf_counter()
    jobs = [(p, args.held_out_seed_start + k) for p in held_prompts for k in range(args.held_out_seeds)]
    base_images = draw(pipe, [p for p, _ in jobs], [s for _, s in jobs], args.sample_steps, args.guidance)
    out = {"split": args.split, "fold": args.fold, "data": data, "held_out_prompts": len(held_prompts),
           "held_out_seeds": args.held_out_seeds, "held_out_seed_start": args.held_out_seed_start}
    drawn = {}
    for task, adapter in results.items():
        out[task] = {"training_figures": fits[task]}
        if jobs:
            verdicts, drawn[task] = compare(pipe, judge, adapter, base_images, jobs, args.sample_steps, args.guidance)
            out[task].update(summary(verdicts))
    timings["held_out_compare_s"] = round(time.perf_counter() - t, 1)
    timings["total_s"] = round(time.perf_counter() - t0, 1)
    # on a machine shared with other jobs the wall time mostly measures the others; CPU time does not
    timings["cpu_s"] = round(time.process_time() - c0, 1)
    out["timings"] = timings
    out["settings"] = {"threads": args.threads, "steps": args.steps or "preset", "batch_size": args.batch_size or "preset",
                       "lr": args.lr or "preset", "beta_dpo": args.beta or "preset", "rank": args.rank or "preset",
                       "targets": args.targets or "preset", "method": args.method or "preset",
                       "empty_prompts": "preset" if args.empty_prompts is None else args.empty_prompts,
                       "seed": "preset" if args.seed is None else args.seed,
                       "images_per_prompt": args.images_per_prompt or "2 (independent pairs)",
                       "sample_steps": args.sample_steps, "rounds": args.rounds, "guidance": args.guidance, "judge_margin": judge.margin}
    if args.grid and jobs:
        pick = list(range(0, len(jobs), args.held_out_seeds))[:10]
        save_grid([base_images[i] for i in pick], [[drawn[t][i] for i in pick] for t in drawn], Path(args.grid))
        out["grid_rows"] = ["base", *drawn]
        out["grid_prompts"] = [jobs[i][0] for i in pick]
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
