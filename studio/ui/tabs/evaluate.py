"""Evaluate tab: score backends on a prompt set with a judge; per-backend and per-node aggregates, every
item's score and rationale; runs resume where they stopped and failed items can be retried. The handlers
are :class:`studio.ui.controllers.evaluate.EvaluateController`'s methods."""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import gradio as gr

from studio.ui.context import TabSpec, UIContext
from studio.ui.controllers.evaluate import AGG_COLUMNS, ITEM_COLUMNS, EvaluateController

SOURCES = [("GenEval template prompts", "geneval"), ("Taxonomy nodes (synthesis planner)", "nodes"),
           ("A studio dataset", "dataset"), ("Uploaded file (GenEval metadata JSONL or a prompt list)", "file")]


@dataclass
class EvaluateUI:
    name: gr.Textbox
    backends: gr.Dropdown
    judge: gr.Dropdown
    rubric: gr.Dropdown
    source: gr.Radio
    count: gr.Number
    nodes: gr.Textbox
    dataset: gr.Textbox
    file: gr.File
    size: gr.Number
    seed: gr.Number
    concurrency: gr.Number
    create: gr.Button
    runs: gr.Dropdown
    resume: gr.Button
    retry: gr.Button
    stop: gr.Button
    summary: gr.Textbox
    by_model: gr.Dataframe
    by_node: gr.Dataframe
    items: gr.Dataframe
    timer: gr.Timer


def _makers(backends) -> list[str]:
    """Backends that make images: from text or by editing."""
    from backends.base import Capability

    return sorted({e.name for cap in (Capability.TEXT_TO_IMAGE, Capability.EDIT) for e in backends.by_capability(cap)})


def _makers_update(backends):
    return gr.update(choices=_makers(backends))


def _judges_update(backends):
    from studio.judges.judges import judge_names

    return gr.update(choices=judge_names(backends))


def build(ctx: UIContext) -> EvaluateUI:
    from studio.judges.judges import judge_names
    from studio.judges.rubrics import RUBRICS

    backends = ctx.studio.backends
    u: dict = {}
    gr.Markdown("### Score backends on a prompt set with a judge\nEvery (backend, prompt) pair is one item; a "
                "stopped run resumes with what is left.")
    with gr.Row():
        u["name"] = gr.Textbox(label="Run name", max_lines=1, elem_id="eval-name")
        u["backends"] = gr.Dropdown(_makers(backends), multiselect=True, label="Backends", elem_id="eval-backends")
        u["judge"] = gr.Dropdown(judge_names(backends), label="Judge", elem_id="eval-judge")
        ctx.follow_backends(u["backends"], partial(_makers_update, backends))
        ctx.follow_backends(u["judge"], partial(_judges_update, backends))
        u["rubric"] = gr.Dropdown([(r.title, r.name) for r in RUBRICS.values()], value="geneval", label="Rubric",
                                  elem_id="eval-rubric")
    with gr.Row():
        u["source"] = gr.Radio(SOURCES, value="geneval", label="Prompt set", elem_id="eval-source")
        u["count"] = gr.Number(24, precision=0, minimum=1, maximum=5000, label="Prompts (templates / nodes)")
        u["nodes"] = gr.Textbox(label="Taxonomy node ids (comma-separated)", max_lines=1)
        u["dataset"] = gr.Textbox(label="Dataset name", max_lines=1)
        u["file"] = gr.File(label="GenEval evaluation_metadata.jsonl or prompts (.jsonl/.csv/.txt)",
                            file_types=[".jsonl", ".csv", ".txt", ".json"], type="filepath")
    with gr.Row():
        u["size"] = gr.Number(512, precision=0, minimum=8, maximum=2048, label="Image size")
        u["seed"] = gr.Number(0, precision=0, label="Seed")
        u["concurrency"] = gr.Number(4, precision=0, minimum=1, maximum=32, label="Items in flight")
    with gr.Row():
        u["create"] = gr.Button("Create and start", variant="primary", elem_id="eval-create")
        u["runs"] = gr.Dropdown([], label="Runs", allow_custom_value=True, elem_id="eval-runs")
        u["resume"] = gr.Button("Resume", elem_id="eval-resume")
        u["retry"] = gr.Button("Retry failed", elem_id="eval-retry")
        u["stop"] = gr.Button("Stop", variant="stop", elem_id="eval-stop")
    u["summary"] = gr.Textbox(label="Run", interactive=False, lines=3, elem_id="eval-summary")
    u["by_model"] = gr.Dataframe(headers=AGG_COLUMNS, label="Per backend (human Bradley–Terry rating beside it "
                                 "where the studio has votes)", interactive=False, elem_id="eval-by-model")
    u["by_node"] = gr.Dataframe(headers=AGG_COLUMNS, label="Per taxonomy node", interactive=False, elem_id="eval-by-node")
    u["items"] = gr.Dataframe(headers=ITEM_COLUMNS, label="Items", interactive=False, wrap=True, elem_id="eval-items")
    u["timer"] = gr.Timer(2.0)
    return EvaluateUI(**u)


def wire(ctx: UIContext, ui: EvaluateUI) -> None:
    ctrl = EvaluateController(ctx.studio)
    shown = [ui.summary, ui.by_model, ui.by_node, ui.items]
    ui.create.click(ctx.guard("evaluations", ctrl.create),
                    [ui.name, ui.backends, ui.judge, ui.rubric, ui.source, ui.count, ui.nodes, ui.dataset, ui.file,
                     ui.size, ui.seed, ui.concurrency], [ui.runs], api_name="evaluate_create")
    for button, method, api in ((ui.resume, ctrl.resume, "evaluate_resume"), (ui.retry, ctrl.retry_failed, "evaluate_retry"),
                                (ui.stop, ctrl.stop, "evaluate_stop")):
        button.click(ctx.guard("evaluations", method), [ui.runs, ui.concurrency], shown, api_name=api)
    ui.runs.change(ctx.guard("results", ctrl.show), [ui.runs], shown, api_name="evaluate_status")
    ui.runs.focus(ctx.guard("results", ctrl.run_list), [ui.runs], [ui.runs], api_visibility="private")
    ui.timer.tick(ctx.guard("results", ctrl.poll), [ui.runs], shown, api_visibility="private")


TAB = TabSpec(id="evaluate", title="Evaluate", order=35, build=build, wire=wire)
