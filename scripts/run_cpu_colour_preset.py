"""Run the preset "CPU: teach the tiny model a new colour (LoRA)" as a user would, and draw its samples.

The preset goes through the studio's Launcher (what the Fine-tune tab and ``python -m studio train
launch --preset …`` call): validation, a tracked run, ``python -m finetune.train`` in its own
process. The samples the trainer draws every ``sample_every`` steps become a grid: one row per
sampled step, one column per sample prompt (the teal prompts and the control).

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


def draw_grid(samples_dir: Path, prompts: list[str], out: Path) -> list[int]:
    """Rows = sampled steps (labelled), columns = prompts; returns the steps drawn."""
    from PIL import Image, ImageDraw

    by_step: dict[int, dict[int, Path]] = {}
    for path in samples_dir.glob("step-*-*.png"):
        m = re.fullmatch(r"step-(\d+)-(\d+)\.png", path.name)
        if m:
            by_step.setdefault(int(m.group(1)), {})[int(m.group(2))] = path
    steps = sorted(by_step)
    label_w, head_h = 90, 24
    grid = Image.new("RGB", (label_w + CELL * len(prompts), head_h + CELL * len(steps)), "white")
    draw = ImageDraw.Draw(grid)
    for j, prompt in enumerate(prompts):
        draw.text((label_w + CELL * j + 6, 6), prompt, fill="black")
    for i, step in enumerate(steps):
        draw.text((6, head_h + CELL * i + CELL // 2 - 6), f"step {step}", fill="black")
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
    last = -1
    while True:
        launcher.reconcile()
        run = launcher.tracker.get(run_id)
        if run.step != last:
            print(f"[{time.time() - t0:5.0f}s] step {run.step}/{run.total_steps} {run.status} "
                  + " ".join(f"{k}={v:.4g}" for k, v in sorted(run.latest.items())), flush=True)
            last = run.step
        if run.status in ("completed", "stopped", "failed"):
            break
        time.sleep(2)
    wall = time.time() - t0
    print(f"run {run.status} after {wall:.0f} s (launch to end, samples included)")
    if run.status != "completed":
        print(launcher.log_tail(run_id, 30))
        return 1
    steps = draw_grid(Path(run.output_dir) / "samples", config["sample_prompts"], Path(args.out))
    print(f"grid of steps {steps} × {config['sample_prompts']} in {args.out}")
    studio.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
