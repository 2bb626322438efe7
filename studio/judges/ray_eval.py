"""Runs an evaluation run's rows on a Ray cluster (see studio.raypool for the worker model).

Each worker builds the run's backends and its judge once, makes a row's image and scores it, and
returns the scores with the image as PNG bytes; this process writes each finished row (image and
scores in one update) and the run's totals, exactly as ``run_eval`` does in-process. A row is only
ever written by the driver, so a row retried after a worker died is still written once, and rows
left pending by a killed driver are what the next run does.
"""
from __future__ import annotations

from typing import Any, Callable

from backends.registry import BackendEntry, BackendRegistry
from studio.images import encode_png, load_image
from studio.judges.evalruns import (failure_values, finish_run, make_image, pending_rows, run_row, run_summary,
                                    score_values, store_image, write_row)
from studio.judges.judges import JudgeItem, resolve_judge
from studio.raypool import RayOptions, connect, lost_message, run_tasks, start_workers, stop_workers


class EvalWorker:
    """One Ray actor: the run's backends and judge, built once; scores rows on request."""

    def __init__(self, entries: dict[str, BackendEntry], judge: str, rubric: str, cfg: dict[str, Any]) -> None:
        self.backends = BackendRegistry(entries)
        self.judge = resolve_judge(self.backends, judge)
        self.rubric = rubric
        self.cfg = cfg

    def run(self, backend: str, prompt: str, spec: dict[str, Any], sources: list[bytes]) -> dict[str, Any]:
        try:
            images = [load_image(b) for b in sources]
            image = make_image(self.backends.get(backend), prompt, images, self.cfg)
            score = self.judge.score(JudgeItem(prompt, image, images, spec.get("metadata")), self.rubric)
        except Exception as exc:  # noqa: BLE001 - a failed row, as in-process
            return {"values": failure_values(exc)}
        scene = image.info.get("scene_graph")
        return {"values": score_values(score), "usage": score.usage,
                "png": encode_png(image, {"scene_graph": scene} if scene is not None else None)}


def run_eval_on_ray(studio, ref: str, ray_options: RayOptions,
                    progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Do the run's pending rows on Ray; returns ``run_summary`` like ``run_eval``.

    1. The judge is checked here first (a judge that cannot score the rubric stops the run before work).
    2. Workers get the backends' and the judge's config entries, so nothing is read from their disks.
    3. Each finished row is written here; the run's status and the judge's usage at the end.
    """
    run = run_row(studio, ref)
    resolve_judge(studio.backends, run.judge).check(rubric=run.rubric)
    ray = connect(ray_options)
    todo = pending_rows(studio, run.id)
    names = {backend for _, backend, _, _ in todo} | ({run.judge} & set(studio.backends.names()))
    entries = {n: studio.backends.entry(n) for n in names}
    usage = {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0}
    done = [0]

    def tasks():
        for item_id, backend, prompt, spec in todo:
            paths = [studio.images.find(sha) for sha in spec.get("sources") or []]
            if None in paths:
                write_row(studio, item_id, {"state": "failed", "error": "a source image is not in the image store"})
                continue
            yield item_id, (backend, prompt, spec, [p.read_bytes() for p in paths])

    def on_results(group: list[tuple[str, Any]]) -> None:
        for item_id, out in group:
            if isinstance(out, BaseException):
                write_row(studio, item_id, {"state": "failed", "error": lost_message(out)})
            elif "png" in out:
                image = load_image(out["png"])
                write_row(studio, item_id, {**out["values"], "image": store_image(studio, image)})
                for k in usage:
                    usage[k] += (out.get("usage") or {}).get(k, 0)
            else:
                write_row(studio, item_id, out["values"])
            done[0] += 1
            if progress is not None:
                progress(done[0], len(todo))

    actors: list[Any] = []
    try:
        actors, per_actor = start_workers(ray, EvalWorker, lambda n: (entries, run.judge, run.rubric, run.config),
                                          ray_options, {e.engine for e in entries.values()}, len(todo))
        run_tasks(ray, actors, per_actor, tasks(), on_results, lambda: False)
    finally:
        stop_workers(ray, actors)
        finish_run(studio, run.id, usage)
    return run_summary(studio, run.id)
