"""A completed run's adapter or weights as a backend variant every tab can pick."""
from __future__ import annotations

import re
from pathlib import Path

from backends.base import Capability
from backends.registry import BackendEntry
from finetune.tracker import RunInfo, RunTracker


class ResultError(ValueError):
    """The run has no usable result (not completed, or its files are gone)."""


def backend_name(run: RunInfo) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", run.name.lower()).strip("-")[:40] or run.id[:8]
    return f"ft-{slug}-{run.id[:6]}"


def run_defaults(run: RunInfo) -> dict:
    """What the run's result renders best at: its training resolution and its sampling settings."""
    cfg = run.config or {}
    out = {}
    if cfg.get("resolution"):
        out["width"] = out["height"] = int(cfg["resolution"])
    if cfg.get("sample_steps"):
        out["steps"] = int(cfg["sample_steps"])
    if cfg.get("sample_guidance_scale") is not None:
        out["guidance_scale"] = float(cfg["sample_guidance_scale"])
    return out


def result_entry(run: RunInfo) -> BackendEntry:
    """The backends-config entry for a completed run (LoRA on its base, or the full weights)."""
    if run.status != "completed" or not run.result_path:
        raise ResultError(f"run {run.name} is {run.status}; only a completed run has a result to use")
    if not Path(run.result_path).exists():
        raise ResultError(f"the result of run {run.name} is gone ({run.result_path})")
    label = f"{run.name} ({run.method} of {Path(run.base_model).name or run.base_model})"
    if run.task.startswith("janus"):
        # a Janus LoRA folder holds only the language model's adapter: load it on its base
        options = ({"model": run.base_model, "loras": [{"path": run.result_path, "scale": 1.0}]}
                   if run.method == "lora" else {"model": run.result_path})
        return BackendEntry(name=backend_name(run), engine="janus", label=label, options=options,
                            defaults=run_defaults(run))
    # the diffusers engines read their call defaults from options; Janus takes only what it documents
    sampling = {k: v for k, v in run_defaults(run).items() if k in ("steps", "guidance_scale")}
    if run.task == "edit":  # an InstructPix2Pix result edits but was not trained to inpaint
        return BackendEntry(name=backend_name(run), engine="diffusers-edit", label=label,
                            options={"model": run.result_path, **sampling}, capabilities=frozenset({Capability.EDIT}),
                            defaults=run_defaults(run))
    options = ({"model": run.base_model, "loras": [{"path": run.result_path, "scale": 1.0}]}
               if run.method == "lora" else {"model": run.result_path})
    options.update(sampling)
    return BackendEntry(name=backend_name(run), engine="diffusers-text2image", label=label, options=options,
                        defaults=run_defaults(run))


def register_result(studio, run_id: str) -> str:
    """Add the run's result to the studio's backends; returns the backend name."""
    run = RunTracker(studio.db).get(run_id)
    if run is None:
        raise ResultError(f"no run with id {run_id}")
    entry = result_entry(run)
    studio.backends.add(entry)
    return entry.name


def register_completed_runs(studio) -> list[str]:
    """Make every completed run with files on disk a backend (called when the app starts)."""
    names = []
    for run in RunTracker(studio.db).list_runs(statuses=("completed",), limit=1000):
        try:
            entry = result_entry(run)
        except ResultError:
            continue
        if entry.name not in studio.backends.names():
            studio.backends.add(entry)
        names.append(entry.name)
    return names
