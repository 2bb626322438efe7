"""Synthesis tab: pick nodes, preview prompts, run batches and look at their images, dedup, coverage,
import and export. The handlers are :class:`studio.ui.controllers.synthesis.SynthesisController`'s methods."""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import gradio as gr
import pandas as pd

from studio.ui.context import TabSpec, UIContext
from studio.ui.controllers.synthesis import (SynthesisController, chat_backend_choices, first_backend,
                                             image_backend_choices, image_defaults)

METHODS = [("Template (OpenGPT-4o-Image pools)", "template"),
           ("Attributes (ShareGPT-4o-Image six dimensions)", "attributes"), ("LLM composition", "llm")]
#: the batch sizes the studio lets a tab ask for (the batch check's bounds)
MIN_SIDE, MAX_SIDE = 8, 2048


def _svc():
    from studio.synthesis import service

    return service


@dataclass
class SynthesisUI:
    # what to plan
    nodes: gr.Dropdown
    count: gr.Number
    seed: gr.Number
    method: gr.Radio
    mix: gr.Dropdown
    image_first: gr.Checkbox
    lam: gr.Number
    near: gr.Dropdown
    threshold: gr.Slider
    skip_existing: gr.Checkbox
    kplot: gr.BarPlot
    preview: gr.Button
    preview_stop: gr.Button
    notice: gr.Markdown
    table: gr.Dataframe
    dropped: gr.Dataframe
    meta: gr.JSON
    # the batch
    images: gr.Dropdown
    chat: gr.Dropdown
    dataset: gr.Textbox
    concurrency: gr.Number
    rpm: gr.Number
    width: gr.Number
    height: gr.Number
    steps: gr.Number
    run: gr.Button
    batch: gr.Dropdown
    progress: gr.Markdown
    cancel: gr.Button
    resume: gr.Button
    retry: gr.Button
    gallery_note: gr.Markdown
    gallery: gr.Gallery
    shown: gr.State  # what the gallery shows, so an unchanged batch is not sent again
    failures: gr.Dataframe
    timer: gr.Timer
    # image-first caption of an upload
    cap_image: gr.Image
    cap_node: gr.Dropdown
    cap_btn: gr.Button
    cap_text: gr.Textbox
    cap_meta: gr.JSON
    # coverage
    cov_dataset: gr.Textbox
    cov_btn: gr.Button
    cov_note: gr.Markdown
    cov_plot: gr.BarPlot
    cov_table: gr.Dataframe
    # import / export
    upload: gr.File
    server_path: gr.Textbox
    good_only: gr.Checkbox
    imp_dataset: gr.Textbox
    import_btn: gr.Button
    import_report: gr.Markdown
    exp_fmt: gr.Dropdown
    exp_dataset: gr.Textbox
    export_btn: gr.Button
    export_file: gr.File
    export_report: gr.Markdown

    def request_inputs(self) -> list[gr.components.Component]:
        """The fields a preview and a batch plan from, in the handlers' order."""
        return [self.nodes, self.count, self.seed, self.method, self.mix, self.lam, self.near, self.threshold,
                self.image_first, self.skip_existing]


def _safe_batches(studio):
    try:
        _svc().mark_interrupted(studio)
        return _svc().batch_choices(studio)
    except Exception:  # noqa: BLE001 - the list is refreshed by the timer
        return []


def _image_choices_update(backends):
    return gr.update(choices=image_backend_choices(backends))


def _chat_choices_update(backends):
    return gr.update(choices=chat_backend_choices(backends))


def build(ctx: UIContext) -> SynthesisUI:
    studio, svc = ctx.studio, _svc()
    u: dict = {}
    try:
        choices = svc.node_choices(studio)
    except Exception as exc:  # a broken taxonomy file must not take the tab down
        choices = []
        gr.Markdown(f"⚠️ Taxonomy not loaded: {exc}")
    gr.Markdown("### Synthesize prompts and edit instructions\nPreview first: nothing calls a model until you run a batch.")
    with gr.Row():
        u["nodes"] = ctx.register("synthesis.nodes", gr.Dropdown(
            choices=choices, multiselect=True, allow_custom_value=True, label="Taxonomy nodes",
            elem_id="synth-nodes", scale=3))
        u["count"] = gr.Number(value=8, precision=0, label="Count", elem_id="synth-count", minimum=1,
                               info=f"Preview: up to {svc.MAX_PREVIEW_COUNT:,} rows; a batch takes more.")
        u["seed"] = gr.Number(value=0, precision=0, label="Seed", elem_id="synth-seed")
    with gr.Row():
        u["method"] = gr.Radio(METHODS, value="template", label="Method", elem_id="synth-method",
                               info="The papers give the methods; pool words, templates, attribute values and "
                                    "difficulty bands are the studio's (see each YAML's source).")
        u["mix"] = gr.Dropdown([(label, value) for value, label in svc.DIFFICULTY_MIXES],
                               value=svc.DEFAULT_DIFFICULTY_MIX, allow_custom_value=True, elem_id="synth-mix",
                               label="Difficulty mix (easy:medium:hard)",
                               info="Only the method default keeps the paper's k distribution for attributes; "
                                    "the other mixes are the studio's.")
        u["image_first"] = gr.Checkbox(
            False, label="LLM: caption the studio's own rendered draft (image-first, studio variant)",
            info="The paper captions real photographs: for that, use the upload under Image-first below.",
            elem_id="synth-image-first")
    with gr.Row():
        u["lam"] = gr.Number(value=svc.DEFAULT_LAMBDA, label="λ for k ~ exp(-λ(k-1)), k = 1..100",
                             info="Studio default 0.5: the paper gives the formula but no value.", elem_id="synth-lambda")
        u["near"] = gr.Dropdown([("MinHash (fast)", "minhash"), ("Embeddings: all-MiniLM-L6-v2 (first use loads the model)", "embedding"),
                                 ("Auto (embeddings up to 20,000 rows)", "auto"), ("Exact duplicates only", "off")],
                                value="minhash", label="Near-duplicates")
        u["threshold"] = gr.Slider(0.5, 1.0, value=0.9, step=0.01, label="Near-duplicate threshold (cosine for embeddings, estimated Jaccard for MinHash)")
        u["skip_existing"] = gr.Checkbox(True, label="Skip prompts the dataset already has", elem_id="synth-skip-existing")
    u["kplot"] = gr.BarPlot(value=pd.DataFrame(svc.k_table(svc.DEFAULT_LAMBDA)), x="k", y="probability",
                            title="Distribution of the number of objects k", height=220, elem_id="synth-kplot")
    with gr.Row():
        u["preview"] = gr.Button("Preview", variant="primary", elem_id="synth-preview")
        u["preview_stop"] = gr.Button("Stop preview", variant="stop", elem_id="synth-preview-stop")
    u["notice"] = gr.Markdown(elem_id="synth-notice")
    u["table"] = gr.Dataframe(headers=svc.PREVIEW_COLUMNS, interactive=False, wrap=True, elem_id="synth-table",
                              column_widths=["40px", "28%", "14%", "70px", "22%", "12%", "14%", "10%"])
    with gr.Accordion("Dropped duplicates", open=False):
        u["dropped"] = gr.Dataframe(headers=["#", "text", "reason"], interactive=False, wrap=True)
    with gr.Accordion("Meta-prompts sent to the LLM", open=False):
        u["meta"] = gr.JSON(label="Rendered meta-prompts (LLM method); each names the paper text it follows "
                                  "or says it is the studio's reading")

    gr.Markdown("### Batch")
    t2i, chat = image_backend_choices(studio.backends), chat_backend_choices(studio.backends)
    with gr.Row():
        u["images"] = gr.Dropdown(t2i, value=first_backend(t2i), label="Image backend", elem_id="synth-images")
        u["chat"] = gr.Dropdown(chat, value=first_backend(chat), label="Chat backend (LLM method)")
        ctx.follow_backends(u["images"], partial(_image_choices_update, studio.backends))
        ctx.follow_backends(u["chat"], partial(_chat_choices_update, studio.backends))
        u["dataset"] = gr.Textbox("synthesis", label="Dataset name", elem_id="synth-dataset")
        u["concurrency"] = gr.Number(4, precision=0, label="Concurrency")
        u["rpm"] = gr.Number(0, label="LLM requests/minute (0: no limit)", minimum=0)
    width, height, steps = image_defaults(studio.backends, u["images"].value)
    with gr.Row():
        # the image backend's own size and steps, refilled when another backend is chosen
        u["width"] = gr.Number(width, precision=0, minimum=MIN_SIDE, maximum=MAX_SIDE, label="Width (px)",
                               elem_id="synth-width")
        u["height"] = gr.Number(height, precision=0, minimum=MIN_SIDE, maximum=MAX_SIDE, label="Height (px)",
                                elem_id="synth-height")
        u["steps"] = gr.Number(steps or 0, precision=0, minimum=0, maximum=1000, elem_id="synth-steps",
                               label="Steps (0: the backend's own)")
    with gr.Row():
        u["run"] = gr.Button("Run batch", variant="primary", elem_id="synth-run")
        u["batch"] = gr.Dropdown(choices=_safe_batches(studio), label="Batches (they keep running if you close the browser)",
                                 elem_id="synth-batch", scale=3)
    u["progress"] = gr.Markdown("No batch selected.", elem_id="synth-progress")
    with gr.Row():
        u["cancel"] = gr.Button("Cancel")
        u["resume"] = gr.Button("Resume")
        u["retry"] = gr.Button("Retry failed")
    u["gallery_note"] = gr.Markdown("The images of the selected batch appear here with their prompts as they "
                                    "are made; run a batch with an image backend, or pick one above.",
                                    elem_id="synth-gallery-note")
    u["gallery"] = gr.Gallery(label="Images of the selected batch", columns=6, height=360, object_fit="contain",
                              elem_id="synth-gallery", visible=False)
    u["shown"] = gr.State(None)
    with gr.Accordion("Failed items", open=False):
        u["failures"] = gr.Dataframe(headers=["position", "node", "text", "error", "raw_output"], interactive=False, wrap=True)
    u["timer"] = gr.Timer(2.0)

    with gr.Accordion("Image-first: caption an uploaded image into a prompt (uses the chat backend above)", open=False):
        with gr.Row():
            u["cap_image"] = gr.Image(type="filepath", label="Image", sources=["upload"])
            u["cap_node"] = gr.Dropdown(choices=[""] + choices, value="", label="Base task (taxonomy node, optional)")
            u["cap_btn"] = gr.Button("Caption and store")
        u["cap_text"] = gr.Textbox(label="Prompt written by the LLM", interactive=False)
        u["cap_meta"] = gr.JSON(label="Meta-prompt sent")

    gr.Markdown("### Coverage")
    with gr.Row():
        u["cov_dataset"] = gr.Textbox("", label="Dataset (empty: all)")
        u["cov_btn"] = gr.Button("Refresh coverage", elem_id="synth-coverage-btn")
    u["cov_note"] = gr.Markdown("Press **Refresh coverage** to compare the samples held per taxonomy leaf with the "
                                "paper's target shares (a chart and a table appear here).", elem_id="synth-coverage-note")
    u["cov_plot"] = gr.BarPlot(x="node", y="value", color="series", title="Share of samples vs paper target share",
                               x_label_angle=-60, height=320, visible=False)
    u["cov_table"] = gr.Dataframe(interactive=False, elem_id="synth-coverage", visible=False)

    gr.Markdown("### Import / export")
    with gr.Row():
        u["upload"] = gr.File(label="Dataset (.json, .jsonl, or .zip of a dataset folder)", file_types=[".json", ".jsonl", ".zip"])
        u["server_path"] = gr.Textbox(label="…or a path on the server")
        u["good_only"] = gr.Checkbox(False, label="Import the good rows even if some are bad")
        u["imp_dataset"] = gr.Textbox("", label="Dataset name (empty: from the file)")
        u["import_btn"] = gr.Button("Import")
    u["import_report"] = gr.Markdown()
    with gr.Row():
        u["exp_fmt"] = gr.Dropdown(["sharegpt4o", "opengpt4o", "studio"], value="sharegpt4o", label="Layout")
        u["exp_dataset"] = gr.Textbox("", label="Dataset (empty: all)")
        u["export_btn"] = gr.Button("Export")
        u["export_file"] = gr.File(label="Download", interactive=False)
    u["export_report"] = gr.Markdown()
    return SynthesisUI(**u)


def wire(ctx: UIContext, ui: SynthesisUI) -> None:
    ctrl = SynthesisController(ctx.studio)
    request = ui.request_inputs()

    ui.lam.change(ctx.guard("browse", ctrl.k_distribution), [ui.lam], [ui.kplot], api_name="synthesis_k_distribution")
    preview_event = ui.preview.click(ctx.guard("synthesis_preview", ctrl.preview), request + [ui.dataset],
                                     [ui.table, ui.dropped, ui.meta, ui.notice], api_name="synthesis_preview")
    ui.preview_stop.click(None, None, None, cancels=[preview_event], api_name=False)

    ui.images.change(ctx.guard("browse", ctrl.backend_defaults), [ui.images], [ui.width, ui.height, ui.steps],
                     show_progress="hidden", api_name="synthesis_backend_defaults")
    ui.run.click(ctx.guard("synthesis_batches", ctrl.run),
                 request + [ui.images, ui.chat, ui.dataset, ui.concurrency, ui.rpm, ui.width, ui.height, ui.steps],
                 [ui.batch, ui.progress], api_name="synthesis_run")

    status = ctx.guard("synthesis_batches", ctrl.status)
    ui.timer.tick(status, [ui.batch], [ui.progress, ui.failures], show_progress="hidden", api_name="poll")
    ui.batch.change(status, [ui.batch], [ui.progress, ui.failures], api_name="synthesis_status")
    gallery = ctx.guard("synthesis_batches", ctrl.gallery)
    shown = [ui.gallery_note, ui.gallery, ui.batch, ui.shown]
    ui.timer.tick(gallery, [ui.batch, ui.shown], shown, show_progress="hidden", api_name="look")
    ui.batch.change(gallery, [ui.batch, ui.shown], shown, api_name="synthesis_gallery")
    ui.batch.focus(ctx.guard("synthesis_batches", ctrl.batch_list), None, [ui.batch])

    for button, method, api in ((ui.cancel, ctrl.cancel, "synthesis_cancel"), (ui.resume, ctrl.resume, "synthesis_resume"),
                                (ui.retry, ctrl.retry_failed, "synthesis_retry")):
        button.click(ctx.guard("synthesis_batches", method), [ui.batch], [ui.progress], api_name=api)

    ui.cap_btn.click(ctx.guard("datasets", ctrl.caption), [ui.cap_image, ui.cap_node, ui.chat, ui.dataset],
                     [ui.cap_text, ui.cap_meta], api_name="synthesis_caption")
    ui.cov_btn.click(ctx.guard("synthesis_batches", ctrl.coverage), [ui.cov_dataset],
                     [ui.cov_plot, ui.cov_table, ui.cov_note], api_name="synthesis_coverage")
    ui.import_btn.click(ctx.guard("datasets", ctrl.import_dataset),
                        [ui.upload, ui.server_path, ui.good_only, ui.imp_dataset], [ui.import_report],
                        api_name="synthesis_import")
    ui.export_btn.click(ctx.guard("datasets", ctrl.export), [ui.exp_fmt, ui.exp_dataset],
                        [ui.export_file, ui.export_report], api_name="synthesis_export")


TAB = TabSpec(id="synthesis", title="Synthesis", order=20, build=build, wire=wire)
