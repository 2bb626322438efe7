"""Comparison batches generated from a prompt set and two or more backends, with progress and resume.

The plan (prompts, backends, task, seed, size, gold rate) is stored in the batch's ``config["generation"]``; each
item has the key ``"<prompt index>:<backend a>|<backend b>"``, so running the plan again only makes
what is missing (a closed browser, a failed backend, a restart). A job runs on its own thread; the UI
polls :func:`job_status`. Every prompt gets one output per backend with the same seed, and one
comparison item per backend pair. When every pair is made, gold pairs (:mod:`studio.annotation.gold`)
are mixed in at the plan's gold rate.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any, Callable

from sqlalchemy import select

from backends.base import BackendError, BackendLoadError, Cancelled, Capability, EditRequest, GenerationRequest
from studio.annotation import AnnotationError
from studio.annotation.criteria import criteria_for
from studio.annotation.gold import add_gold_comparisons, check_gold_rate
from studio.annotation.models import ComparisonBatch, ComparisonItem
from studio.annotation.service import add_comparison, create_batch, resolve_batch

log = logging.getLogger(__name__)
MAX_PROMPTS = 5000
MIN_SIDE, MAX_SIDE = 8, 2048


def prompts_from_text(text: str) -> list[dict[str, Any]]:
    """A pasted list: one prompt per non-empty line."""
    return [{"prompt": line.strip()} for line in (text or "").splitlines() if line.strip()]


def prompts_from_file(path: str | Path) -> list[dict[str, Any]]:
    """Prompts from .txt (one per line), .jsonl/.json (prompt|input_prompt|instruction) or .csv (prompt column)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AnnotationError(f"{path.name}: cannot read as UTF-8 text ({exc})") from None
    suffix = path.suffix.lower()
    if suffix == ".txt":
        return prompts_from_text(text)
    rows: list[dict[str, Any]] = []
    if suffix in (".jsonl", ".json"):
        stripped = text.lstrip()
        try:
            records = json.loads(stripped) if stripped.startswith("[") else [
                json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError as exc:
            raise AnnotationError(f"{path.name}: not valid JSON ({exc})") from None
    elif suffix == ".csv":
        records = list(csv.DictReader(io.StringIO(text)))
    else:
        raise AnnotationError(f"{path.name}: prompt files are .txt, .jsonl, .json or .csv")
    for n, rec in enumerate(records, 1):
        if isinstance(rec, str):
            rec = {"prompt": rec}
        if not isinstance(rec, dict):
            raise AnnotationError(f"{path.name}: entry {n} is not an object")
        prompt = rec.get("prompt") or rec.get("input_prompt") or rec.get("instruction")
        if not prompt or not str(prompt).strip():
            raise AnnotationError(f"{path.name}: entry {n} has no prompt (prompt, input_prompt or instruction)")
        rows.append({"prompt": str(prompt).strip(), "taxonomy_id": rec.get("taxonomy_id") or None})
    return rows


def prompts_from_samples(studio, dataset: str | None = None, synthesis_batch: str | None = None) -> list[dict[str, Any]]:
    """Prompts (with source image and taxonomy node) of stored samples: a dataset or a synthesis batch."""
    from studio.db.models import Sample

    with studio.db.session() as s:
        stmt = select(Sample).order_by(Sample.created_at, Sample.id)
        if synthesis_batch:
            from studio.synthesis.models import SynthesisBatch, SynthesisItem

            sb = s.scalar(select(SynthesisBatch.id).where(
                (SynthesisBatch.id == synthesis_batch) | (SynthesisBatch.name == synthesis_batch)))
            if sb is None:
                raise AnnotationError(f"no synthesis batch {synthesis_batch!r}")
            ids = select(SynthesisItem.sample_id).where(SynthesisItem.batch_id == sb, SynthesisItem.sample_id.is_not(None))
            stmt = stmt.where(Sample.id.in_(ids))
        elif dataset:
            stmt = stmt.where(Sample.dataset == dataset)
        else:
            raise AnnotationError("name a dataset or a synthesis batch to take prompts from")
        rows = [{"prompt": r.prompt, "source_image": (r.input_images or [None])[0], "taxonomy_id": r.taxonomy_id}
                for r in s.scalars(stmt) if (r.prompt or "").strip()]
    if not rows:
        raise AnnotationError("that prompt source has no samples with a prompt")
    return rows


def check_backends(registry, backends, task: str) -> list[str]:
    """The distinct backend names, at least two, each configured and able to do ``task``."""
    names = [b for b in dict.fromkeys(str(x).strip() for x in backends or ()) if b]
    if len(names) < 2:
        raise AnnotationError("pick at least two backends to compare")
    if task not in ("text-to-image", "edit"):
        raise AnnotationError("task must be text-to-image or edit")
    need = Capability.TEXT_TO_IMAGE if task == "text-to-image" else Capability.EDIT
    for name in names:
        try:
            entry = registry.entry(name)
        except BackendError as exc:
            raise AnnotationError(str(exc)) from None
        if need not in entry.capabilities:
            raise AnnotationError(f"backend {name!r} cannot do {task}; pick backends with the {need.value} capability")
    return names


def plan_batch(
    studio,
    name: str,
    *,
    prompts: list[dict[str, Any]],
    backends: list[str],
    task: str = "text-to-image",
    seed: int = 0,
    width: int | None = None,
    height: int | None = None,
    source_image: str | None = None,
    overlap: int = 1,
    criteria=None,
    added_criteria=(),
    guidelines: str = "",
    gold_rate: float = 0.0,
    gold_backend: str = "procedural",
    active_order: bool = False,
) -> str:
    """Validate and store a generation plan as a new comparison batch (no images yet); returns its id.

    A size left out is the smallest the backends declare as their own (backends/defaults.py), so a
    32-px model is not asked for 512 px; a given size may be anything from MIN_SIDE to MAX_SIDE.
    ``criteria`` left out are the task's (:func:`studio.annotation.criteria.criteria_for`) followed by
    ``added_criteria``. ``gold_rate`` (0 to 0.5) is the share of gold pairs rendered by
    ``gold_backend`` mixed in once the comparisons are made (text-to-image only). ``active_order``
    offers the pair the arena's matchmaking picks next instead of the stored order.
    """
    backends = check_backends(studio.backends, backends, task)
    gold_rate = check_gold_rate(gold_rate)
    if gold_rate:
        if task != "text-to-image":
            raise AnnotationError("gold pairs are mixed into text-to-image batches only; set the gold rate to 0 "
                                  "for an edit batch")
        try:
            gold_entry = studio.backends.entry(gold_backend)
        except BackendError as exc:
            raise AnnotationError(f"gold pairs are rendered by {gold_backend!r}: {exc}") from None
        if Capability.TEXT_TO_IMAGE not in gold_entry.capabilities:
            raise AnnotationError(f"gold pairs are rendered by {gold_backend!r}, which cannot do text-to-image")
    if criteria is None:
        criteria = criteria_for(task, added_criteria)
    elif added_criteria:
        raise AnnotationError("give either the criteria or criteria to add to the task's defaults, not both")
    if not prompts:
        raise AnnotationError("the prompt set is empty")
    if len(prompts) > MAX_PROMPTS:
        raise AnnotationError(f"at most {MAX_PROMPTS} prompts per batch (got {len(prompts)})")
    clean = []
    for p in prompts:
        src = p.get("source_image") or source_image
        if task == "edit" and not src:
            raise AnnotationError("edit comparisons need a source image (upload one or use samples that have one)")
        clean.append({"prompt": str(p["prompt"]), "source_image": src if task == "edit" else None,
                      "taxonomy_id": p.get("taxonomy_id")})
    if not width or not height:
        from backends.defaults import common_size

        own_w, own_h = common_size([studio.backends.defaults(b) for b in backends])
        width, height = width or own_w, height or own_h
    if not MIN_SIDE <= int(width) <= MAX_SIDE or not MIN_SIDE <= int(height) <= MAX_SIDE:
        raise AnnotationError(f"width and height must be between {MIN_SIDE} and {MAX_SIDE} pixels")
    plan = {"prompts": clean, "backends": backends, "task": task, "seed": int(seed),
            "width": int(width), "height": int(height), "gold_rate": gold_rate, "gold_backend": gold_backend}
    config = {"generation": plan, **({"active_order": True} if active_order else {})}
    return create_batch(studio, name, overlap=overlap, criteria=criteria, guidelines=guidelines, config=config)


def _pairs(backends: list[str]) -> list[tuple[str, str]]:
    return list(combinations(backends, 2))


def run_plan(studio, batch: str, *, progress: Callable[[int, int], None] | None = None,
             cancel: threading.Event | None = None) -> dict[str, Any]:
    """Make every missing item of the batch's plan; returns {"done", "total", "errors"}."""
    batch_id = resolve_batch(studio, batch)
    with studio.db.session() as s:
        b = s.get(ComparisonBatch, batch_id)
        plan = (b.config or {}).get("generation")
        have = set(s.scalars(select(ComparisonItem.item_key).where(ComparisonItem.batch_id == batch_id)))
    if not plan:
        raise AnnotationError("this batch was not planned for generation")
    pairs = _pairs(plan["backends"])
    total = len(plan["prompts"]) * len(pairs)
    done = sum(1 for i in range(len(plan["prompts"])) for a, b2 in pairs if f"{i}:{a}|{b2}" in have)
    errors: list[str] = []
    if progress:
        progress(done, total)
    for i, p in enumerate(plan["prompts"]):
        missing = [(a, b2) for a, b2 in pairs if f"{i}:{a}|{b2}" not in have]
        if not missing:
            continue
        if cancel is not None and cancel.is_set():
            break
        outputs: dict[str, str] = {}
        for name in dict.fromkeys(x for pair in missing for x in pair):
            try:
                outputs[name] = _generate_one(studio, name, plan, p, plan["seed"] + i, cancel)
            except Cancelled:  # the prompt's pairs stay missing; resuming makes them
                return {"done": done, "total": total, "errors": errors}
            except BackendLoadError as exc:
                errors.append(str(exc))
                log.warning("comparison generation stopped: %s", exc)
                return {"done": done, "total": total, "errors": errors}
            except (BackendError, ValueError, RuntimeError) as exc:
                errors.append(f"prompt {i + 1} on {name}: {exc}")
                log.warning("comparison generation failed for prompt %d on %s: %s", i + 1, name, exc)
        for a, b2 in missing:
            if a in outputs and b2 in outputs:
                add_comparison(studio, batch_id, prompt=p["prompt"], task=plan["task"], output_a=outputs[a],
                               model_a=a, output_b=outputs[b2], model_b=b2, source_image=p.get("source_image"),
                               taxonomy_id=p.get("taxonomy_id"), item_key=f"{i}:{a}|{b2}",
                               provenance={"source": "generation", "seed": plan["seed"] + i})
                done += 1
        if progress:
            progress(done, total)
    if plan.get("gold_rate") and done == total and not (cancel is not None and cancel.is_set()):
        try:
            add_gold_comparisons(studio, batch_id, rate=plan["gold_rate"], backend=plan.get("gold_backend", "procedural"),
                                 seed=plan["seed"], width=plan["width"], height=plan["height"])
        except (AnnotationError, BackendError, ValueError, RuntimeError) as exc:
            errors.append(f"gold pairs: {exc}")
    return {"done": done, "total": total, "errors": errors}


def _generate_one(studio, backend_name: str, plan: dict[str, Any], p: dict[str, Any], seed: int,
                  cancel: threading.Event | None = None) -> str:
    """One output of one backend for one prompt, stored; returns its SHA-256."""
    backend = studio.backends.get(backend_name)
    own = studio.backends.defaults(backend_name)  # each backend samples with its own steps and guidance
    if plan["task"] == "edit":
        source = studio.images.open(p["source_image"])
        result = backend.edit(EditRequest(image=source, instruction=p["prompt"], seed=seed, steps=own.get("steps"),
                                         cancel=cancel))
    else:
        result = backend.generate(GenerationRequest(prompt=p["prompt"], seed=seed, width=plan["width"],
                                                    height=plan["height"], steps=own.get("steps"),
                                                    guidance_scale=own.get("guidance_scale"), cancel=cancel))
    return studio.samples.store_image(result.image)


@dataclass
class JobState:
    """A running (or finished) generation job of one batch, as the UI polls it."""

    batch_id: str
    done: int = 0
    total: int = 0
    errors: list[str] = field(default_factory=list)
    running: bool = True
    cancel: threading.Event = field(default_factory=threading.Event)
    started: float = field(default_factory=time.monotonic)
    first_done: int | None = None  # items already there when the job started (a resume)

    def eta_seconds(self) -> float | None:
        """Time left at the pace of this job so far (None until it has made an item)."""
        made = self.done - (self.first_done or 0)
        if not self.running or made <= 0:
            return None
        return (time.monotonic() - self.started) / made * (self.total - self.done)

    def text(self) -> str:
        if self.running:
            state = "cancelling" if self.cancel.is_set() else "running"
        else:
            state = "finished" if self.done >= self.total else \
                "cancelled; resume makes the rest" if self.cancel.is_set() else "stopped; resume makes the rest"
        msg = f"{self.done} / {self.total} comparisons made ({state})"
        eta = self.eta_seconds()
        if eta is not None and not self.cancel.is_set():
            msg += f", about {_duration(eta)} left"
        if self.errors:
            msg += f"; {len(self.errors)} problem(s), first: {self.errors[0]}"
        return msg


_jobs: dict[str, JobState] = {}
_jobs_lock = threading.Lock()


def start_job(studio, batch: str) -> JobState:
    """Run (or resume) the batch's plan on a background thread; one job per batch at a time."""
    batch_id = resolve_batch(studio, batch)
    with _jobs_lock:
        job = _jobs.get(batch_id)
        if job is not None and job.running:
            return job
        job = JobState(batch_id)
        _jobs[batch_id] = job

    def report(done: int, total: int) -> None:
        if job.first_done is None:
            job.first_done = done
        job.done, job.total = done, total

    def work() -> None:
        try:
            result = run_plan(studio, batch_id, progress=report, cancel=job.cancel)
            job.errors = result["errors"]
        except Exception as exc:  # surfaced as a failed job, with the reason
            log.exception("comparison generation for batch %s failed", batch_id)
            job.errors = [f"{type(exc).__name__}: {exc}"]
        finally:
            job.running = False

    threading.Thread(target=work, name=f"compare-{batch_id[:8]}", daemon=True).start()
    return job


def cancel_job(studio, batch: str) -> JobState | None:
    """Ask the batch's running job to stop (the image in progress is abandoned); None if none runs."""
    job = _jobs.get(resolve_batch(studio, batch))
    if job is None or not job.running:
        return None
    job.cancel.set()
    return job


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def job_status(batch_id: str) -> JobState | None:
    """The latest job of the batch in this process (None if none ran)."""
    return _jobs.get(batch_id)
