"""Run the preset "CPU: teach the tiny model a new colour (LoRA)" as a user would, and draw its samples.

The preset goes through the studio's Launcher (what the Fine-tune tab and ``python -m studio train
launch --preset …`` call): validation, a tracked run, ``python -m finetune.train`` in its own
process. The samples the trainer draws every ``sample_every`` steps become a grid: one row per
sampled step, one column per sample prompt (the teal prompts and the control), and a last row drawn
by the finished adapter loaded as a studio backend (the way every tab generates with it). It prints
the median colour at the centre of each sample (the shapes are centred) for the record.

    OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python scripts/run_cpu_colour_preset.py \
        [--out assets/models/tiny-shapes/lora_before_after.png]
"""
from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PRESET = "CPU: teach the tiny model a new colour (LoRA)"
CELL = 128
#: the row of images drawn by the run's result loaded as a studio backend (sorted after every step)
BACKEND_ROW = 999_999


def centre_colour(img) -> tuple[int, int, int]:
    """Median RGB of the central quarter-by-quarter patch: the shape's colour (shapes are centred)."""
    import numpy as np

    arr = np.asarray(img.convert("RGB"))
    h, w = arr.shape[:2]
    centre = arr[h * 3 // 8: h * 5 // 8, w * 3 // 8: w * 5 // 8].reshape(-1, 3)
    return tuple(int(v) for v in np.median(centre, axis=0))


def backend_row(studio, run_id: str, config: dict, folder: Path) -> Path:
    """Draw the sample prompts with the run's result as a studio backend (what every tab uses)."""
    from backends.base import GenerationRequest
    from finetune.results import register_result

    engine = studio.backends.get(register_result(studio, run_id))
    folder.mkdir(parents=True, exist_ok=True)
    for i, prompt in enumerate(config["sample_prompts"]):
        res = engine.generate(GenerationRequest(prompt=prompt, seed=config["seed"] + i, width=config["resolution"],
                                                height=config["resolution"], steps=config["sample_steps"],
                                                guidance_scale=config["sample_guidance_scale"]))
        res.image.save(folder / f"step-{BACKEND_ROW:06d}-{i}.png")
    return folder


def draw_grid(samples_dir: Path, prompts: list[str], out: Path, extra: Path | None = None) -> list[int]:
    """Rows = sampled steps (labelled), columns = prompts; returns the steps drawn."""
    from PIL import Image, ImageDraw

    by_step: dict[int, dict[int, Path]] = {}
    for path in [*samples_dir.glob("step-*-*.png"), *(extra.glob("step-*-*.png") if extra else [])]:
        m = re.fullmatch(r"step-(\d+)-(\d+)\.png", path.name)
        if m:
            by_step.setdefault(int(m.group(1)), {})[int(m.group(2))] = path
    steps = sorted(by_step)
    for step in steps:
        label = "backend" if step == BACKEND_ROW else f"step {step}"
        colours = [centre_colour(Image.open(by_step[step][j])) for j in sorted(by_step[step])]
        print(f"{label:>10}: " + "  ".join(f"{p!r} centre RGB {c}" for p, c in zip(prompts, colours)))
    label_w, head_h = 90, 24
    grid = Image.new("RGB", (label_w + CELL * len(prompts), head_h + CELL * len(steps)), "white")
    draw = ImageDraw.Draw(grid)
    for j, prompt in enumerate(prompts):
        draw.text((label_w + CELL * j + 6, 6), prompt, fill="black")
    for i, step in enumerate(steps):
        label = "backend" if step == BACKEND_ROW else f"step {step}"
        draw.text((6, head_h + CELL * i + CELL // 2 - 6), label, fill="black")
        for j in range(len(prompts)):
            if j in by_step[step]:
                with Image.open(by_step[step][j]) as img:
                    grid.paste(img.convert("RGB").resize((CELL, CELL), Image.NEAREST),
                               (label_w + CELL * j, head_h + CELL * i))
    out.parent.mkdir(parents=True, exist_ok=True)
    grid.save(out)
    return steps


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "assets" / "models" / "tiny-shapes" / "lora_before_after.png"))
    ap.add_argument("--data-dir", help="studio data folder for the run (default: a new temporary one)")
    ap.add_argument("--base-model", help="try the preset on another base model folder (default: the preset's)")
    args = ap.parse_args()

    from finetune.launcher import Launcher
    from finetune.presets import load_preset
    from studio.core import Studio
    from studio.settings import load_settings

    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="cpu-colour-preset-"))
    studio = Studio(load_settings(data_dir=data_dir))
    launcher = Launcher(studio)
    config = load_preset(studio, PRESET)
    if args.base_model:
        config["base_model"] = str(Path(args.base_model).resolve())
    t0 = time.time()
    run_id = launcher.submit(config)
    print(f"run {run_id} in {studio.settings.runs_dir / run_id}", flush=True)
    run = launcher.follow(run_id, lambda r: print(
        f"[{time.time() - t0:5.0f}s] step {r.step}/{r.total_steps} {r.status} "
        + " ".join(f"{k}={v:.4g}" for k, v in sorted(r.latest.items())), flush=True))
    wall = time.time() - t0
    print(f"run {run.status} after {wall:.0f} s (launch to end, samples included)")
    if run.status != "completed":
        print(launcher.log_tail(run_id, 30))
        return 1
    extra = backend_row(studio, run_id, config, Path(run.output_dir) / "backend_samples")
    steps = draw_grid(Path(run.output_dir) / "samples", config["sample_prompts"], Path(args.out), extra)
    print(f"grid of steps {steps[:-1]} and the result as a backend × {config['sample_prompts']} in {args.out}")
    studio.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
