"""Annotate tab, admin part: make comparison batches (generate or import) and change their settings.

Handlers: :class:`studio.ui.controllers.annotate_admin.BatchAdminController`.
"""
from dataclasses import dataclass

import gradio as gr

from studio.annotation.service import KNOWN_CRITERIA
from studio.ui.context import UIContext
from studio.ui.controllers.annotate_admin import SOURCES, BatchAdminController


@dataclass
class BatchAdminUI:
    new_name: gr.Textbox
    new_overlap: gr.Number
    new_criteria: gr.CheckboxGroup
    new_added: gr.Textbox
    new_guidelines: gr.Textbox
    gen_source: gr.Radio
    gen_task: gr.Radio
    gen_text: gr.Textbox
    gen_file: gr.File
    gen_dataset: gr.Textbox
    gen_src_image: gr.Image
    gen_backends: gr.Dropdown
    gen_seed: gr.Number
    gen_width: gr.Number
    gen_height: gr.Number
    gen_gold: gr.Number
    gen_active: gr.Checkbox
    gen_go: gr.Button
    gen_resume: gr.Button
    gen_cancel: gr.Button
    gen_status: gr.Textbox
    imp_file: gr.File
    imp_go: gr.Button
    imp_status: gr.Textbox
    set_overlap: gr.Number
    set_status: gr.Radio
    set_guidelines: gr.Textbox
    set_load: gr.Button
    set_save: gr.Button
    set_info: gr.Textbox


def build(ctx: UIContext) -> BatchAdminUI:
    with gr.Accordion("Make a comparison batch", open=False, elem_id="annotate-make"):
        with gr.Row():
            new_name = gr.Textbox(label="Batch name", elem_id="annotate-new-name")
            new_overlap = gr.Number(1, label="Annotators per item (overlap)", precision=0, minimum=1)
            new_criteria = gr.CheckboxGroup(
                [(v, k) for k, v in KNOWN_CRITERIA.items()], value=[], elem_id="annotate-new-criteria",
                label="Criteria (none ticked: the task's own; the first is answered with the buttons)",
                info="Text-to-image: instruction fidelity, visual clarity. Edits: instruction following, "
                     "preservation, quality.")
            new_added = gr.Textbox(label="Your own criteria (comma-separated, asked after these)",
                                   elem_id="annotate-new-added", placeholder="e.g. text rendering")
        new_guidelines = gr.Textbox(label="Guidelines shown to annotators", lines=3)
        with gr.Tab("Generate with backends"):
            with gr.Row():
                gen_source = gr.Radio(SOURCES, value="Pasted list", label="Prompts from")
                gen_task = gr.Radio(["text-to-image", "edit"], value="text-to-image", label="Task")
            gen_text = gr.Textbox(label="Prompts, one per line", lines=5)
            with gr.Row():
                gen_file = gr.File(label="Prompt file (.txt, .jsonl, .csv)", file_types=[".txt", ".jsonl", ".json", ".csv"],
                                   type="filepath")
                gen_dataset = gr.Textbox(label="Dataset or synthesis batch name")
                gen_src_image = gr.Image(label="Source image for edits (if the prompts have none)",
                                         type="filepath", sources=["upload"])
            gen_backends = gr.Dropdown([], multiselect=True, allow_custom_value=True, elem_id="annotate-gen-backends",
                                       label="Backends to compare (two or more; all pairs are made)")
            with gr.Row():
                gen_seed = gr.Number(0, label="Seed", precision=0)
                gen_width = gr.Number(None, label="Width (empty: the backends' own size)", precision=0,
                                      elem_id="annotate-gen-width")
                gen_height = gr.Number(None, label="Height (empty: the backends' own size)", precision=0,
                                       elem_id="annotate-gen-height")
            with gr.Row():
                gen_gold = gr.Number(0, label="Gold pairs (share, 0–0.5; text-to-image)", minimum=0, maximum=0.5,
                                     step=0.05, elem_id="annotate-gen-gold",
                                     info="Pairs with a known answer, made by the procedural engine, mixed in "
                                          "to measure each annotator's accuracy.")
                gen_active = gr.Checkbox(False, label="Active ordering: offer the pair a vote teaches most about",
                                         elem_id="annotate-gen-active")
            with gr.Row():
                gen_go = gr.Button("Create batch and generate", variant="primary")
                gen_resume = gr.Button("Resume generation of the selected batch")
                gen_cancel = gr.Button("Cancel generation of the selected batch", elem_id="annotate-gen-cancel")
            gen_status = gr.Textbox(label="Generation", interactive=False, elem_id="annotate-gen-status")
        with gr.Tab("Import existing pairs"):
            gr.Markdown("A `.jsonl`/`.csv` of rows (prompt, optional source_image, output_a, model_a, output_b, "
                        "model_b, optional taxonomy_id) with images in a `.zip` beside it, or a `.zip` holding two "
                        "folders of outputs matched by file name (folder names become model names; prompts from "
                        "`prompts.csv` with file,prompt or a `.txt` beside each image).")
            imp_file = gr.File(label="Pairs file or zip", file_types=[".jsonl", ".json", ".csv", ".zip"],
                               type="filepath", elem_id="annotate-import-file")
            imp_go = gr.Button("Import", variant="primary")
            imp_status = gr.Textbox(label="Import", interactive=False, elem_id="annotate-import-status")
    with gr.Accordion("Settings of the selected batch", open=False):
        with gr.Row():
            set_overlap = gr.Number(label="Overlap", precision=0, minimum=1)
            set_status = gr.Radio(["open", "closed"], label="Status")
        set_guidelines = gr.Textbox(label="Guidelines", lines=3)
        with gr.Row():
            set_load = gr.Button("Load settings")
            set_save = gr.Button("Save settings", variant="primary")
        set_info = gr.Textbox(label="Batch", interactive=False)
    return BatchAdminUI(
        new_name=new_name, new_overlap=new_overlap, new_criteria=new_criteria, new_added=new_added,
        new_guidelines=new_guidelines, gen_gold=gen_gold, gen_active=gen_active,
        gen_source=gen_source, gen_task=gen_task, gen_text=gen_text, gen_file=gen_file, gen_dataset=gen_dataset,
        gen_src_image=gen_src_image, gen_backends=gen_backends, gen_seed=gen_seed, gen_width=gen_width,
        gen_height=gen_height, gen_go=gen_go, gen_resume=gen_resume, gen_cancel=gen_cancel, gen_status=gen_status,
        imp_file=imp_file, imp_go=imp_go, imp_status=imp_status, set_overlap=set_overlap, set_status=set_status,
        set_guidelines=set_guidelines, set_load=set_load, set_save=set_save, set_info=set_info)


def wire(ctx: UIContext, ui: BatchAdminUI, ctrl: BatchAdminController, name: gr.Textbox, batch: gr.Dropdown) -> list:
    """Connects the panel (``name``: the signed-in name field; ``batch``: the batch list above);
    returns the events after which the batch list may have changed."""
    ctx.follow_backends(ui.gen_backends, ctrl.all_backends)
    new_batch = [name, ui.new_name, ui.new_overlap, ui.new_criteria, ui.new_added, ui.new_guidelines]
    generated = ui.gen_go.click(
        ctx.guard("annotate_generate", ctrl.generate),
        [*new_batch, ui.gen_source, ui.gen_task, ui.gen_text, ui.gen_file, ui.gen_dataset, ui.gen_src_image,
         ui.gen_backends, ui.gen_seed, ui.gen_width, ui.gen_height, ui.gen_gold, ui.gen_active],
        [ui.gen_status], api_name="annotate_generate")
    ui.gen_resume.click(ctx.guard("annotate_generate", ctrl.resume), [name, batch], [ui.gen_status],
                        api_name="annotate_resume")
    ui.gen_cancel.click(ctx.guard("annotate_admin", ctrl.cancel), [name, batch], [ui.gen_status],
                        api_name="annotate_cancel_generation")
    imported = ui.imp_go.click(ctx.guard("annotate_admin", ctrl.import_pairs), [*new_batch, ui.imp_file],
                               [ui.imp_status], api_name="annotate_import")
    ui.set_load.click(ctx.guard("annotate_admin", ctrl.load_settings), [name, batch],
                      [ui.set_overlap, ui.set_status, ui.set_guidelines, ui.set_info], api_name="annotate_batch_settings")
    saved = ui.set_save.click(ctx.guard("annotate_admin", ctrl.save_settings),
                              [name, batch, ui.set_overlap, ui.set_status, ui.set_guidelines], [ui.set_info],
                              api_name="annotate_save_settings")
    return [generated, imported, saved]
