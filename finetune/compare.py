"""Close the loop: a blind comparison batch of a finished run's result against its base model.

Held-out prompts are the run's validation rows (the same seeded split the trainer made) and its sample
prompts, which it never trained on; both sides get the same seed per prompt and the size the run
trained at (backends/defaults.py). The estimate is derived from the run's recorded training speed.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from backends.base import Capability
from backends.registry import BackendEntry
from finetune.config import TASK_SAMPLE_KIND
from finetune.results import ResultError, register_result, run_defaults
from finetune.tracker import RunInfo, RunTracker

#: a sampling step runs the denoiser twice (guidance) forward only; a training step is about three
#: forward passes' worth (forward and backward) per row of its batch
SAMPLE_STEP_PER_TRAIN_STEP = 2 / 3


@dataclass(frozen=True)
class ComparePlan:
    run: RunInfo
    adapter: str
    base: str
    prompts: list[str]
    width: int
    height: int
    steps: int
    estimate_s: float | None

    def summary(self) -> str:
        when = (f"about {_duration(self.estimate_s)}" if self.estimate_s is not None
                else "unknown (the run recorded no speed)")
        return (f"{len(self.prompts)} held-out prompts × 2 backends ({self.adapter} vs {self.base}) at "
                f"{self.width}×{self.height}, {self.steps} steps, same seed per prompt; estimated time {when}")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def base_entry(run: RunInfo) -> BackendEntry:
    """The run's base model as a backend, rendering with the run's settings so the pair differs only in weights."""
    if TASK_SAMPLE_KIND.get(run.task) != "text-to-image":
        raise ResultError(f"run {run.name} is an {run.task} run; compare edit models from the Annotate tab, "
                          "with the source images the edits need")
    slug = re.sub(r"[^a-z0-9]+", "-", Path(str(run.base_model)).name.lower()).strip("-")[:30] or "model"
    tag = hashlib.sha256(str(run.base_model).encode()).hexdigest()[:6]
    defaults = run_defaults(run)
    if run.task.startswith("janus"):  # janus-t2i and janus-dpo adapters sit on a Janus base
        return BackendEntry(name=f"base-{slug}-{tag}", engine="janus", label=f"{run.base_model} (base)",
                            options={"model": run.base_model}, defaults=defaults,
                            capabilities=frozenset({Capability.TEXT_TO_IMAGE, Capability.EDIT}))
    sampling = {k: v for k, v in defaults.items() if k in ("steps", "guidance_scale")}
    return BackendEntry(name=f"base-{slug}-{tag}", engine="diffusers-text2image", label=f"{run.base_model} (base)",
                        options={"model": run.base_model, **sampling}, defaults=defaults,
                        capabilities=frozenset({Capability.TEXT_TO_IMAGE}))


def heldout_prompts(run: RunInfo, limit: int) -> list[str]:
    """Validation rows of the run (its seeded split) then its sample prompts, without repeats."""
    cfg = run.config or {}
    prompts: list[str] = []
    frac = float((cfg.get("dataset") or {}).get("validation_split") or 0)
    manifest = Path(run.output_dir) / "manifest.jsonl"
    if frac > 0 and manifest.is_file():
        import torch  # the trainer's split is a torch permutation of the manifest rows

        rows = [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines() if line.strip()]
        if len(rows) >= 2:
            g = torch.Generator().manual_seed(int(cfg.get("seed") or 0))
            order = torch.randperm(len(rows), generator=g).tolist()
            prompts += [str(rows[i].get("prompt") or "") for i in order[:max(1, int(len(rows) * frac))]]
    prompts += [str(p) for p in cfg.get("sample_prompts") or []]
    return [p for p in dict.fromkeys(p.strip() for p in prompts) if p][:limit]


def plan_comparison(studio, run_id: str, *, limit: int = 12) -> ComparePlan:
    """What "Compare with its base" would make, with its estimate; registers both backends.

    1. the run's result and its base model become backends (if they are not already);
    2. held-out prompts are collected (at most ``limit``);
    3. size and steps come from the run's training settings, the estimate from its training speed.
    """
    run = RunTracker(studio.db).get(run_id)
    if run is None:
        raise ResultError(f"no run with id {run_id}; pick a run in the list")
    base = base_entry(run)
    prompts = heldout_prompts(run, limit)
    if not prompts:
        raise ResultError(f"run {run.name} has no held-out prompts: give it sample prompts or a validation "
                          "split, or make a batch from your own prompts in the Annotate tab")
    adapter = register_result(studio, run_id)
    if base.name not in studio.backends.names():
        studio.backends.add(base)
    own = studio.backends.defaults(adapter)
    steps = int(own.get("steps") or 20)
    rate = run.latest.get("steps_per_s")
    batch = int((run.config or {}).get("batch_size") or 1)
    estimate = (len(prompts) * 2 * steps * SAMPLE_STEP_PER_TRAIN_STEP / (rate * batch)) if rate else None
    return ComparePlan(run=run, adapter=adapter, base=base.name, prompts=prompts,
                       width=int(own.get("width") or 512), height=int(own.get("height") or 512), steps=steps,
                       estimate_s=estimate)


def create_comparison(studio, plan: ComparePlan) -> str:
    """The blind batch of ``plan`` (images not made yet: start it with studio.annotation.generation.start_job)."""
    from datetime import datetime, timezone

    from studio.annotation.generation import plan_batch

    name = f"{plan.run.name} vs base {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S}"
    return plan_batch(studio, name, prompts=[{"prompt": p} for p in plan.prompts],
                      backends=[plan.adapter, plan.base], seed=int((plan.run.config or {}).get("seed") or 0),
                      width=plan.width, height=plan.height,
                      guidelines=f"Which image follows the prompt better? (fine-tune run {plan.run.name} "
                                 "against its base model; the sides are shuffled)")
