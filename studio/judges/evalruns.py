"""Evaluation runs: backends × prompt set × judge, resumable like synthesis batches.

Every (backend, prompt) pair is one row of ``judge_eval_items`` planned when the run is created. Running
does the rows still pending: the backend makes the image (kept in the image store with its scene graph),
the judge scores it, and the row is finished in one transaction. A killed run leaves unfinished rows
pending, so running it again does exactly those: no duplicate, nothing lost. Rows whose generation or
judge call failed are marked failed with the reason; :func:`retry_failed` puts them back.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from sqlalchemy import func, select, update

from backends.base import BackendError, Capability, EditRequest, GenerationRequest
from studio.db.base import utcnow
from studio.judges import JudgeError
from studio.judges.aggregate import aggregate
from studio.judges.judges import JudgeItem, resolve_judge
from studio.judges.models import EvalItem, EvalRun
from studio.judges.pairwise import parallel_map
from studio.judges.promptsets import PromptSpec


@dataclass
class EvalRequest:
    name: str
    backends: list[str]
    judge: str
    rubric: str
    prompts: list[PromptSpec]
    width: int = 512
    height: int = 512
    seed: int = 0
    source: dict[str, Any] = field(default_factory=dict)


def create_run(studio, req: EvalRequest) -> str:
    """Check everything a run needs, then plan its rows; returns the run id.

    1. The judge is resolved and must score the rubric; each backend must exist and make images
       (text-to-image for prompts, edit for prompts with a source image) — refused before any work.
    2. One row per (backend, prompt), backend-major, written with the run in one transaction.
    """
    name = (req.name or "").strip()
    if not name or len(name) > 128:
        raise JudgeError("give the run a name of 1–128 characters")
    judge = resolve_judge(studio.backends, req.judge)
    judge.check(rubric=req.rubric)
    if not req.backends:
        raise JudgeError("pick at least one backend to evaluate")
    needs_edit = any(p.sources for p in req.prompts)
    needs_t2i = any(not p.sources for p in req.prompts)
    for b in req.backends:
        try:
            caps = studio.backends.entry(b).capabilities
        except BackendError as exc:
            raise JudgeError(str(exc)) from None
        if needs_t2i and Capability.TEXT_TO_IMAGE not in caps:
            raise JudgeError(f"backend '{b}' cannot make images from text, and the prompt set has text prompts")
        if needs_edit and Capability.EDIT not in caps:
            raise JudgeError(f"backend '{b}' cannot edit images, and the prompt set has edit instructions")
    with studio.db.session() as s:
        if s.scalar(select(EvalRun.id).where(EvalRun.name == name)):
            raise JudgeError(f"an evaluation run named '{name}' exists; resume it or pick another name")
        run = EvalRun(name=name, judge=judge.name, rubric=req.rubric, total=len(req.backends) * len(req.prompts),
                      config={"backends": req.backends, "width": req.width, "height": req.height,
                              "seed": req.seed, "source": req.source})
        s.add(run)
        s.flush()
        pos = 0
        for b in req.backends:
            for p in req.prompts:
                s.add(EvalItem(run_id=run.id, position=pos, backend=b, prompt=p.prompt, taxonomy_id=p.taxonomy_id,
                               spec={"metadata": p.metadata, "sources": p.sources}))
                pos += 1
        return run.id


def run_row(studio, ref: str) -> EvalRun:
    with studio.db.session() as s:
        run = s.get(EvalRun, ref) or s.scalar(select(EvalRun).where(EvalRun.name == ref))
        if run is None:
            raise JudgeError(f"no evaluation run '{ref}'")
        s.expunge(run)
        return run


def run_eval(studio, ref: str, *, concurrency: int = 4, cancel: threading.Event | None = None,
             progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Do the run's pending rows (see the module docstring); returns :func:`run_summary`.

    1. The judge is resolved again (a judge that can no longer score the rubric stops the run before work).
    2. Pending rows are done ``concurrency`` at a time; each finished row is committed on its own.
    3. The run's status and the judge's usage are written at the end (and survive a cancel).
    """
    run = run_row(studio, ref)
    judge = resolve_judge(studio.backends, run.judge)
    judge.check(rubric=run.rubric)
    cfg = run.config
    todo = pending_rows(studio, run.id)
    done = [0]
    lock = threading.Lock()
    usage_total = {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0}

    def one(row: tuple[str, str, str, dict]) -> None:
        if cancel is not None and cancel.is_set():
            return
        item_id, backend, prompt, spec = row
        try:
            sources = [studio.images.open(sha) for sha in spec.get("sources") or []]
            image = make_image(studio.backends.get(backend), prompt, sources, cfg)
            score = judge.score(JudgeItem(prompt, image, sources, spec.get("metadata")), run.rubric)
            values = {**score_values(score), "image": store_image(studio, image)}
            with lock:
                for k in usage_total:
                    usage_total[k] += score.usage.get(k, 0)
        except Exception as exc:  # noqa: BLE001 - one failing engine call must not stop the other rows
            values = failure_values(exc)
        write_row(studio, item_id, values)
        with lock:
            done[0] += 1
            if progress is not None:
                progress(done[0], len(todo))

    try:
        parallel_map(one, todo, concurrency)
    finally:
        finish_run(studio, run.id, usage_total)
    return run_summary(studio, run.id)


def pending_rows(studio, run_id: str) -> list[tuple[str, str, str, dict]]:
    """The run's rows still to do, in order, as (item id, backend, prompt, spec); the run is marked running."""
    with studio.db.session() as s:
        todo = [(i.id, i.backend, i.prompt, i.spec) for i in s.scalars(
            select(EvalItem).where(EvalItem.run_id == run_id, EvalItem.state == "pending").order_by(EvalItem.position))]
        s.execute(update(EvalRun).where(EvalRun.id == run_id).values(status="running"))
    return todo


def make_image(engine, prompt: str, sources: list, cfg: dict[str, Any]):
    """The backend's image for one row (an edit when the row has source images), scene graph kept."""
    if sources:
        result = engine.edit(EditRequest(image=sources[0], instruction=prompt, reference_images=sources[1:],
                                         seed=int(cfg.get("seed", 0))))
    else:
        result = engine.generate(GenerationRequest(prompt=prompt, seed=int(cfg.get("seed", 0)),
                                                   width=int(cfg.get("width", 512)), height=int(cfg.get("height", 512))))
    image = result.image
    if result.scene_graph is not None and "scene_graph" not in image.info:
        image.info["scene_graph"] = result.scene_graph
    return image


def score_values(score) -> dict[str, Any]:
    """A judge's score as the row's columns (a failed judge call is a failed row, never a score)."""
    return {"state": "failed" if score.status == "failed" else "done", "status": score.status,
            "scores": {"scores": score.scores, "aggregate": score.aggregate, "notices": score.notices},
            "overall": score.overall, "reasoning": score.reasoning, "raw": score.raw,
            "error": score.problem or None}


def failure_values(exc: BaseException) -> dict[str, Any]:
    return {"state": "failed", "error": str(exc) if isinstance(exc, BackendError) else f"{type(exc).__name__}: {exc}"}


def write_row(studio, item_id: str, values: dict[str, Any]) -> None:
    with studio.db.session() as s:
        s.execute(update(EvalItem).where(EvalItem.id == item_id).values(updated_at=utcnow(), **values))


def finish_run(studio, run_id: str, usage: dict[str, Any]) -> None:
    """The run's status from its rows, and the judge's usage added (also after a cancel or a crash)."""
    with studio.db.session() as s:
        left = dict(s.execute(select(EvalItem.state, func.count()).where(EvalItem.run_id == run_id)
                              .group_by(EvalItem.state)).all())
        status = "interrupted" if left.get("pending") else ("failed" if left.get("failed") else "done")
        s.execute(update(EvalRun).where(EvalRun.id == run_id).values(
            status=status, calls=EvalRun.calls + usage["calls"],
            prompt_tokens=EvalRun.prompt_tokens + usage["prompt_tokens"],
            completion_tokens=EvalRun.completion_tokens + usage["completion_tokens"],
            cost_usd=EvalRun.cost_usd + usage["cost_usd"]))


def store_image(studio, image) -> str:
    """The row's image in the store with its scene graph (the scene-graph judge reads it later)."""
    scene = image.info.get("scene_graph")
    return studio.samples.store_image(image, {"scene_graph": scene} if scene is not None else None)


def retry_failed(studio, ref: str) -> int:
    """Put the run's failed rows back to pending; returns how many."""
    run = run_row(studio, ref)
    with studio.db.session() as s:
        res = s.execute(update(EvalItem).where(EvalItem.run_id == run.id, EvalItem.state == "failed")
                        .values(state="pending", error=None))
        return int(res.rowcount or 0)


def run_summary(studio, ref: str, *, items: bool = False) -> dict[str, Any]:
    """The run's status, counts, usage, aggregates per backend and per taxonomy node, the human
    leaderboard's rating of each backend where the studio has votes on it, and (``items``) every row."""
    run = run_row(studio, ref)
    with studio.db.session() as s:
        rows = [{"position": i.position, "model": i.backend, "prompt": i.prompt, "taxonomy_id": i.taxonomy_id,
                 "state": i.state, "status": i.status, "aggregate": (i.scores or {}).get("aggregate", {}),
                 "scores": (i.scores or {}).get("scores", {}), "notices": (i.scores or {}).get("notices", []),
                 "overall": i.overall, "reasoning": i.reasoning, "raw": i.raw, "error": i.error, "image": i.image}
                for i in s.scalars(select(EvalItem).where(EvalItem.run_id == run.id).order_by(EvalItem.position))]
    states: dict[str, int] = {}
    for r in rows:
        key = r["state"] if r["state"] != "done" else (r["status"] or "done")
        states[key] = states.get(key, 0) + 1
    out = {"run": run.name, "id": run.id, "status": run.status, "judge": run.judge, "rubric": run.rubric,
           "total": run.total, "counts": states, "config": run.config,
           "downscaled": sum(1 for r in rows if r["notices"]),
           "usage": {"calls": run.calls, "prompt_tokens": run.prompt_tokens,
                     "completion_tokens": run.completion_tokens, "cost_usd": round(run.cost_usd, 6)},
           "aggregates": aggregate(r for r in rows if r["state"] == "done"),
           "human_leaderboard": _human_ratings(studio, run.config.get("backends", []))}
    if items:
        out["items"] = rows
    return out


def _human_ratings(studio, backends: Sequence[str]) -> dict[str, Any]:
    """Bradley–Terry ratings from the human votes for the run's backends that appear in them."""
    from studio.annotation import AnnotationError
    from studio.annotation.results import leaderboard_json, studio_battles

    try:
        battles = studio_battles(studio)
    except AnnotationError:
        return {}
    if len(battles) == 0:
        return {}
    board = leaderboard_json(battles, bootstrap=0)
    return {m["model"]: {"rating": m["rating"], "battles": m["battles"]} for m in board["models"]
            if m["model"] in backends}


def list_runs(studio) -> list[dict[str, Any]]:
    with studio.db.session() as s:
        return [{"name": r.name, "id": r.id, "status": r.status, "judge": r.judge, "rubric": r.rubric,
                 "total": r.total} for r in s.scalars(select(EvalRun).order_by(EvalRun.created_at))]


#: runs being worked on by this process: name -> cancel event (one worker per run, so no row is done twice)
_ACTIVE: dict[str, threading.Event] = {}
_ACTIVE_LOCK = threading.Lock()


def start_in_background(studio, ref: str, *, concurrency: int = 4) -> bool:
    """Run (or resume) ``ref`` on a worker thread; False when this process is already running it."""
    run = run_row(studio, ref)
    with _ACTIVE_LOCK:
        if run.id in _ACTIVE:
            return False
        cancel = _ACTIVE[run.id] = threading.Event()

    def work() -> None:
        try:
            run_eval(studio, run.id, concurrency=concurrency, cancel=cancel)
        except Exception:  # noqa: BLE001 - the run's rows and status say what happened
            import logging

            logging.getLogger(__name__).exception("evaluation run %s stopped", run.name)
        finally:
            with _ACTIVE_LOCK:
                _ACTIVE.pop(run.id, None)

    threading.Thread(target=work, name=f"eval-{run.id[:8]}", daemon=True).start()
    return True


def stop_background(studio, ref: str) -> bool:
    """Ask this process's worker on ``ref`` to stop after the rows in flight; False when none runs it."""
    run = run_row(studio, ref)
    with _ACTIVE_LOCK:
        cancel = _ACTIVE.get(run.id)
    if cancel is None:
        return False
    cancel.set()
    return True


def is_running(studio, ref: str) -> bool:
    run = run_row(studio, ref)
    with _ACTIVE_LOCK:
        return run.id in _ACTIVE
