"""The Evaluate tab's handlers: create a scored run, resume, retry or stop it, and show its scores.

Each method takes component values, calls the judges engine (``studio.judges.promptsets`` for the prompt
set, ``studio.judges.evalruns`` for runs) and turns its answer into the tab's tables.
"""
from __future__ import annotations

import gradio as gr
import pandas as pd

AGG_COLUMNS = ["group", "items", "scored", "overall mean", "95% CI"]
ITEM_COLUMNS = ["#", "backend", "node", "prompt", "status", "overall", "reasoning", "problem"]
MAX_IN_FLIGHT = 32


def _in_flight(concurrency) -> int:
    return max(1, min(MAX_IN_FLIGHT, int(concurrency or 4)))


def _agg_rows(groups: dict, ratings: dict | None = None) -> list[list]:
    rows = []
    for key, g in groups.items():
        o = g.get("overall", {})
        label = key
        if ratings and key in ratings:
            label = f"{key} (human rating {ratings[key]['rating']:.0f})"
        rows.append([label, g["items"], g["scored"], o.get("mean"), o.get("ci")])
    return rows


class EvaluateController:
    """Built from the studio (the runs' database, backends and judges are read through it)."""

    def __init__(self, studio) -> None:
        self.studio = studio

    def _runs_update(self, value=None):
        from studio.judges import evalruns

        return gr.update(choices=[r["name"] for r in evalruns.list_runs(self.studio)], value=value)

    def create(self, name, backends, judge, rubric, source, count, nodes, dataset, upload, size, seed, concurrency,
               progress=gr.Progress()):
        """Store the run with its prompt set and start it in the background; the runs list selects it."""
        from studio.judges import JudgeError, evalruns, promptsets

        if not judge:
            raise gr.Error("Choose a judge.")
        try:
            prompts, src = promptsets.from_source(self.studio, source, count=count, nodes=nodes, dataset=dataset,
                                                  upload=upload, seed=seed)
            evalruns.create_run(self.studio, evalruns.EvalRequest(
                (name or "").strip(), list(backends or []), judge, rubric, prompts, int(size or 512),
                int(size or 512), int(seed or 0), src))
            evalruns.start_in_background(self.studio, name.strip(), concurrency=_in_flight(concurrency))
        except JudgeError as exc:
            raise gr.Error(str(exc)) from None
        return self._runs_update(name.strip())

    def _control(self, name, act):
        from studio.judges import JudgeError

        if not name:
            raise gr.Error("Choose a run.")
        try:
            act(name)
        except JudgeError as exc:
            raise gr.Error(str(exc)) from None
        return self.show(name)

    def resume(self, name, concurrency):
        from studio.judges import evalruns

        return self._control(name, lambda n: evalruns.start_in_background(self.studio, n,
                                                                          concurrency=_in_flight(concurrency)))

    def retry_failed(self, name, concurrency):
        from studio.judges import evalruns

        def act(n):
            evalruns.retry_failed(self.studio, n)
            evalruns.start_in_background(self.studio, n, concurrency=_in_flight(concurrency))

        return self._control(name, act)

    def stop(self, name, concurrency):
        """Stop the run's worker (``concurrency`` is unused: the run buttons share their inputs)."""
        from studio.judges import evalruns

        return self._control(name, lambda n: evalruns.stop_background(self.studio, n))

    def show(self, name):
        """The run's summary line, per-backend and per-node aggregates and every item."""
        from studio.judges import JudgeError
        from studio.judges.evalruns import is_running, run_summary

        if not name:
            return "", [], [], []
        try:
            out = run_summary(self.studio, name, items=True)
        except JudgeError as exc:
            return str(exc), [], [], []
        u = out["usage"]
        state = "running" if is_running(self.studio, name) else out["status"]
        text = (f"{out['run']}: {state} — judge {out['judge']}, rubric {out['rubric']}; "
                + ", ".join(f"{k} {v}" for k, v in out["counts"].items())
                + f". Judge usage: {u['calls']} calls, {u['prompt_tokens']}+{u['completion_tokens']} tokens, "
                  f"${u['cost_usd']:.4f}.")
        if out["downscaled"]:
            text += f" {out['downscaled']} item(s) had images downscaled to the judge API's size limit."
        items = [[i["position"], i["model"], i["taxonomy_id"], i["prompt"], i["status"] or i["state"], i["overall"],
                  i["reasoning"], i["error"] or ""] for i in out["items"]]
        agg = out["aggregates"]
        return (text, _agg_rows(agg["by_model"], out["human_leaderboard"]), _agg_rows(agg["by_taxonomy"]),
                pd.DataFrame(items, columns=ITEM_COLUMNS))

    def run_list(self, name):
        return self._runs_update(name)

    def poll(self, name):
        """The selected run while it runs; nothing sent otherwise."""
        from studio.judges import evalruns

        if name and evalruns.is_running(self.studio, name):
            return self.show(name)
        return [gr.update()] * 4
