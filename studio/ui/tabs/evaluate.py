"""Evaluate tab: score backends on a prompt set with a judge; per-backend and per-node aggregates, every
item's score and rationale; runs resume where they stopped and failed items can be retried."""
from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd

from studio.ui.context import TabSpec, UIContext

SOURCES = [("GenEval template prompts", "geneval"), ("Taxonomy nodes (synthesis planner)", "nodes"),
           ("A studio dataset", "dataset"), ("Uploaded file (GenEval metadata JSONL or a prompt list)", "file")]
AGG_COLUMNS = ["group", "items", "scored", "overall mean", "95% CI"]
ITEM_COLUMNS = ["#", "backend", "node", "prompt", "status", "overall", "reasoning", "problem"]


def build(ctx: UIContext) -> None:
    from backends.base import Capability
    from studio.judges.judges import judge_names
    from studio.judges.rubrics import RUBRICS

    studio = ctx.studio
    c: dict = {}
    makers = sorted({e.name for cap in (Capability.TEXT_TO_IMAGE, Capability.EDIT) for e in studio.backends.by_capability(cap)})
    gr.Markdown("### Score backends on a prompt set with a judge\nEvery (backend, prompt) pair is one item; a "
                "stopped run resumes with what is left.")
    with gr.Row():
        c["name"] = gr.Textbox(label="Run name", max_lines=1, elem_id="eval-name")
        c["backends"] = gr.Dropdown(makers, multiselect=True, label="Backends", elem_id="eval-backends")
        c["judge"] = gr.Dropdown(judge_names(studio.backends), label="Judge", elem_id="eval-judge")
        ctx.follow_backends(c["backends"], lambda: gr.update(choices=sorted(
            {e.name for cap in (Capability.TEXT_TO_IMAGE, Capability.EDIT) for e in studio.backends.by_capability(cap)})))
        ctx.follow_backends(c["judge"], lambda: gr.update(choices=judge_names(studio.backends)))
        c["rubric"] = gr.Dropdown([(r.title, r.name) for r in RUBRICS.values()], value="geneval", label="Rubric",
                                  elem_id="eval-rubric")
    with gr.Row():
        c["source"] = gr.Radio(SOURCES, value="geneval", label="Prompt set", elem_id="eval-source")
        c["count"] = gr.Number(24, precision=0, minimum=1, maximum=5000, label="Prompts (templates / nodes)")
        c["nodes"] = gr.Textbox(label="Taxonomy node ids (comma-separated)", max_lines=1)
        c["dataset"] = gr.Textbox(label="Dataset name", max_lines=1)
        c["file"] = gr.File(label="GenEval evaluation_metadata.jsonl or prompts (.jsonl/.csv/.txt)",
                            file_types=[".jsonl", ".csv", ".txt", ".json"], type="filepath")
    with gr.Row():
        c["size"] = gr.Number(512, precision=0, minimum=8, maximum=2048, label="Image size")
        c["seed"] = gr.Number(0, precision=0, label="Seed")
        c["concurrency"] = gr.Number(4, precision=0, minimum=1, maximum=32, label="Items in flight")
    with gr.Row():
        c["create"] = gr.Button("Create and start", variant="primary", elem_id="eval-create")
        c["runs"] = gr.Dropdown([], label="Runs", allow_custom_value=True, elem_id="eval-runs")
        c["resume"] = gr.Button("Resume", elem_id="eval-resume")
        c["retry"] = gr.Button("Retry failed", elem_id="eval-retry")
        c["stop"] = gr.Button("Stop", variant="stop", elem_id="eval-stop")
    c["summary"] = gr.Textbox(label="Run", interactive=False, lines=3, elem_id="eval-summary")
    c["by_model"] = gr.Dataframe(headers=AGG_COLUMNS, label="Per backend (human Bradley–Terry rating beside it "
                                 "where the studio has votes)", interactive=False, elem_id="eval-by-model")
    c["by_node"] = gr.Dataframe(headers=AGG_COLUMNS, label="Per taxonomy node", interactive=False, elem_id="eval-by-node")
    c["items"] = gr.Dataframe(headers=ITEM_COLUMNS, label="Items", interactive=False, wrap=True, elem_id="eval-items")
    c["timer"] = gr.Timer(2.0)
    ctx._evaluate = c  # type: ignore[attr-defined]  # handed to wire()


def _prompts(studio, source, count, nodes, dataset, upload, seed):
    from studio.judges import promptsets

    count = int(count or 24)
    if source == "geneval":
        return promptsets.from_geneval_templates(count, int(seed or 0)), {"geneval_templates": count}
    if source == "nodes":
        ids = [n.strip() for n in (nodes or "").split(",") if n.strip()]
        if not ids:
            raise gr.Error("Type one or more taxonomy node ids.")
        return promptsets.from_taxonomy(studio, ids, count, int(seed or 0)), {"nodes": ids, "count": count}
    if source == "dataset":
        if not (dataset or "").strip():
            raise gr.Error("Type a dataset name.")
        return promptsets.from_dataset(studio, dataset.strip()), {"dataset": dataset.strip()}
    if not upload:
        raise gr.Error("Upload a GenEval metadata JSONL or a prompt list first.")
    from studio.judges.manifest import read_rows

    from pathlib import Path

    path = Path(upload)
    rows = read_rows(path) if path.suffix.lower() != ".txt" else []
    if rows and isinstance(rows[0], dict) and "include" in rows[0]:
        return promptsets.from_geneval_file(path), {"file": path.name}
    if any(isinstance(r, dict) and r.get("source_image") for r in rows):
        raise gr.Error("Prompt lists with source images are run headless (python -m studio eval run ... --prompts "
                       "FILE), where the image paths are read beside the file.")
    return promptsets.from_prompt_list(studio, path), {"file": path.name}


def _agg_rows(groups: dict, ratings: dict | None = None) -> list[list]:
    rows = []
    for key, g in groups.items():
        o = g.get("overall", {})
        label = key
        if ratings and key in ratings:
            label = f"{key} (human rating {ratings[key]['rating']:.0f})"
        rows.append([label, g["items"], g["scored"], o.get("mean"), o.get("ci")])
    return rows


def view(studio, name: str | None):
    from studio.judges import JudgeError
    from studio.judges.evalruns import is_running, run_summary

    if not name:
        return "", [], [], []
    try:
        out = run_summary(studio, name, items=True)
    except JudgeError as exc:
        return str(exc), [], [], []
    u = out["usage"]
    state = "running" if is_running(studio, name) else out["status"]
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


def wire(ctx: UIContext, ui: Any = None) -> None:
    from studio.judges import JudgeError
    from studio.judges import evalruns

    studio = ctx.studio
    c = ctx._evaluate  # type: ignore[attr-defined]
    outputs = [c["summary"], c["by_model"], c["by_node"], c["items"]]

    def runs_update(value=None):
        names = [r["name"] for r in evalruns.list_runs(studio)]
        return gr.update(choices=names, value=value)

    def create(name, backends, judge, rubric, source, count, nodes, dataset, upload, size, seed, concurrency,
               progress=gr.Progress()):
        if not judge:
            raise gr.Error("Choose a judge.")
        try:
            prompts, src = _prompts(studio, source, count, nodes, dataset, upload, seed)
            evalruns.create_run(studio, evalruns.EvalRequest(
                (name or "").strip(), list(backends or []), judge, rubric, prompts, int(size or 512),
                int(size or 512), int(seed or 0), src))
            evalruns.start_in_background(studio, name.strip(), concurrency=max(1, min(32, int(concurrency or 4))))
        except JudgeError as exc:
            raise gr.Error(str(exc)) from None
        return runs_update(name.strip())

    c["create"].click(ctx.guard("evaluations", create),
                      [c["name"], c["backends"], c["judge"], c["rubric"], c["source"], c["count"], c["nodes"],
                       c["dataset"], c["file"], c["size"], c["seed"], c["concurrency"]], [c["runs"]],
                      api_name="evaluate_create")

    def control(action):
        def handler(name, concurrency):
            if not name:
                raise gr.Error("Choose a run.")
            try:
                if action == "retry":
                    evalruns.retry_failed(studio, name)
                if action == "stop":
                    evalruns.stop_background(studio, name)
                else:
                    evalruns.start_in_background(studio, name, concurrency=max(1, min(32, int(concurrency or 4))))
            except JudgeError as exc:
                raise gr.Error(str(exc)) from None
            return view(studio, name)
        return handler

    for action in ("resume", "retry", "stop"):
        c[action].click(ctx.guard("evaluations", control(action)), [c["runs"], c["concurrency"]], outputs,
                        api_name=f"evaluate_{action}")
    c["runs"].change(ctx.guard("results", lambda name: view(studio, name)), [c["runs"]], outputs, api_name="evaluate_status")
    c["runs"].focus(ctx.guard("results", lambda name: runs_update(name)), [c["runs"]], [c["runs"]], api_visibility="private")

    def poll(name):
        if name and evalruns.is_running(studio, name):
            return view(studio, name)
        return [gr.update()] * 4

    c["timer"].tick(ctx.guard("results", poll), [c["runs"]], outputs, api_visibility="private")


TAB = TabSpec(id="evaluate", title="Evaluate", order=35, build=build, wire=wire)
