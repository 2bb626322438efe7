"""The Fine-tune tab's panel that turns a comparison batch's votes into a preference-pairs folder.

Built inside the tab's dataset column (:func:`build_panel`) and wired to
:class:`studio.ui.controllers.finetune_prefs.PrefsController` (:func:`wire_panel`); Build fills the tab's
dataset source and name, which are passed in as components.
"""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from studio.ui.context import UIContext


@dataclass
class PrefsUI:
    accordion: gr.Accordion
    batch: gr.Dropdown
    source: gr.Dropdown
    keep_ties: gr.Checkbox
    preview: gr.Button
    build: gr.Button
    report: gr.Markdown
    nodes: gr.Dataframe


def build_panel() -> PrefsUI:
    with gr.Accordion("Preference pairs from a comparison batch", open=False) as accordion:
        gr.Markdown("Winner/loser pairs from a batch's votes, for the Diffusion-DPO and winner-SFT tasks. "
                    "Build writes them to the studio's data folder and picks them as the dataset.")
        with gr.Row():
            # choices are filled on page load and when the list is opened; ids and sources that are
            # not (or no longer) listed reach the engine, which says what is wrong
            batch = gr.Dropdown([], value=None, allow_custom_value=True, label="Comparison batch",
                                elem_id="ft-prefs-batch")
            source = gr.Dropdown([("people", "human")], value="human", allow_custom_value=True,
                                 label="Votes from", elem_id="ft-prefs-source")
        keep_ties = gr.Checkbox(False, label="Keep ties (as 0.5/0.5 rows; the trainers skip them)")
        with gr.Row():
            preview = gr.Button("Preview", elem_id="ft-prefs-preview")
            build = gr.Button("Build", elem_id="ft-prefs-build")
        report = gr.Markdown(elem_id="ft-prefs-report")
        nodes = gr.Dataframe(headers=["taxonomy node", "pairs"], label="Pairs per taxonomy node",
                             interactive=False, elem_id="ft-prefs-nodes")
    return PrefsUI(accordion=accordion, batch=batch, source=source, keep_ties=keep_ties, preview=preview,
                   build=build, report=report, nodes=nodes)


def wire_panel(ctx: UIContext, ui: PrefsUI, dataset_source: gr.Radio, dataset_name: gr.Dropdown) -> None:
    from studio.ui.controllers.finetune_prefs import PrefsController

    ctrl = PrefsController(ctx.studio)
    batches = ctx.guard("finetune", ctrl.batches)
    ctx.demo.load(batches, None, ui.batch, api_visibility="private")
    ui.accordion.expand(batches, None, ui.batch, show_progress="hidden")
    ui.batch.change(ctx.guard("finetune", ctrl.sources), [ui.batch], ui.source, show_progress="hidden",
                    api_name="finetune_prefs_sources")
    inputs = [ui.batch, ui.source, ui.keep_ties]
    ui.preview.click(ctx.guard("finetune", ctrl.preview), inputs, [ui.report, ui.nodes],
                     api_name="finetune_prefs_preview")
    # one build at a time: a rebuild replaces the folder of its batch and source, which another build of
    # the same batch would be writing
    ui.build.click(ctx.guard("finetune", ctrl.build), inputs, [ui.report, ui.nodes, dataset_source, dataset_name],
                   api_name="finetune_prefs_build", concurrency_limit=1)
