"""Annotate tab, admin part: make comparison batches (generate or import) and change their settings."""
import tempfile
import time
from typing import Any

import gradio as gr

from studio.annotation import AnnotationError, generation, importer, service
from studio.annotation.service import KNOWN_CRITERIA
from studio.images import ImageLoadError, load_image
from studio.ui.access import current_identity
from studio.ui.context import UIContext

SOURCES = ["Pasted list", "Prompt file", "Dataset", "Synthesis batch"]
USER_ERRORS = (AnnotationError, ImageLoadError, ValueError)


def build(ctx: UIContext, c: dict[str, Any]) -> None:
    with gr.Accordion("Make a comparison batch", open=False, elem_id="annotate-make"):
        with gr.Row():
            c["new_name"] = gr.Textbox(label="Batch name", elem_id="annotate-new-name")
            c["new_overlap"] = gr.Number(1, label="Annotators per item (overlap)", precision=0, minimum=1)
            c["new_criteria"] = gr.CheckboxGroup([(v, k) for k, v in KNOWN_CRITERIA.items()], value=["overall"],
                                                 label="Criteria (the first is answered with the buttons)")
        c["new_guidelines"] = gr.Textbox(label="Guidelines shown to annotators", lines=3)
        with gr.Tab("Generate with backends"):
            with gr.Row():
                c["gen_source"] = gr.Radio(SOURCES, value="Pasted list", label="Prompts from")
                c["gen_task"] = gr.Radio(["text-to-image", "edit"], value="text-to-image", label="Task")
            c["gen_text"] = gr.Textbox(label="Prompts, one per line", lines=5)
            with gr.Row():
                c["gen_file"] = gr.File(label="Prompt file (.txt, .jsonl, .csv)", file_types=[".txt", ".jsonl", ".json", ".csv"],
                                        type="filepath")
                c["gen_dataset"] = gr.Textbox(label="Dataset or synthesis batch name")
                c["gen_src_image"] = gr.Image(label="Source image for edits (if the prompts have none)",
                                              type="filepath", sources=["upload"])
            c["gen_backends"] = gr.Dropdown([], multiselect=True, allow_custom_value=True, elem_id="annotate-gen-backends",
                                            label="Backends to compare (two or more; all pairs are made)")
            ctx.follow_backends(c["gen_backends"], lambda: gr.update(choices=ctx.studio.backends.names()))
            with gr.Row():
                c["gen_seed"] = gr.Number(0, label="Seed", precision=0)
                c["gen_width"] = gr.Number(None, label="Width (empty: the backends' own size)", precision=0,
                                           elem_id="annotate-gen-width")
                c["gen_height"] = gr.Number(None, label="Height (empty: the backends' own size)", precision=0,
                                            elem_id="annotate-gen-height")
            with gr.Row():
                c["gen_go"] = gr.Button("Create batch and generate", variant="primary")
                c["gen_resume"] = gr.Button("Resume generation of the selected batch")
                c["gen_cancel"] = gr.Button("Cancel generation of the selected batch", elem_id="annotate-gen-cancel")
            c["gen_status"] = gr.Textbox(label="Generation", interactive=False, elem_id="annotate-gen-status")
        with gr.Tab("Import existing pairs"):
            gr.Markdown("A `.jsonl`/`.csv` of rows (prompt, optional source_image, output_a, model_a, output_b, "
                        "model_b, optional taxonomy_id) with images in a `.zip` beside it, or a `.zip` holding two "
                        "folders of outputs matched by file name (folder names become model names; prompts from "
                        "`prompts.csv` with file,prompt or a `.txt` beside each image).")
            c["imp_file"] = gr.File(label="Pairs file or zip", file_types=[".jsonl", ".json", ".csv", ".zip"],
                                    type="filepath", elem_id="annotate-import-file")
            c["imp_go"] = gr.Button("Import", variant="primary")
            c["imp_status"] = gr.Textbox(label="Import", interactive=False, elem_id="annotate-import-status")
    with gr.Accordion("Settings of the selected batch", open=False):
        with gr.Row():
            c["set_overlap"] = gr.Number(label="Overlap", precision=0, minimum=1)
            c["set_status"] = gr.Radio(["open", "closed"], label="Status")
        c["set_guidelines"] = gr.Textbox(label="Guidelines", lines=3)
        with gr.Row():
            c["set_load"] = gr.Button("Load settings")
            c["set_save"] = gr.Button("Save settings", variant="primary")
        c["set_info"] = gr.Textbox(label="Batch", interactive=False)


def _prompts(studio, source: str, text: str, file: str | None, dataset: str) -> list[dict]:
    if source == "Pasted list":
        return generation.prompts_from_text(text)
    if source == "Prompt file":
        if not file:
            raise AnnotationError("upload a prompt file first")
        return generation.prompts_from_file(file)
    if source == "Dataset":
        return generation.prompts_from_samples(studio, dataset=(dataset or "").strip())
    return generation.prompts_from_samples(studio, synthesis_batch=(dataset or "").strip())


def wire(ctx: UIContext, c: dict[str, Any]) -> None:
    studio = ctx.studio

    def refresh_admin(name: str, request: gr.Request, profile: gr.OAuthProfile | None):
        who = current_identity(studio, name, request, profile)
        if who is None or not who.is_admin:
            return gr.update()
        return gr.update(choices=studio.backends.names())

    c["refresh_admin"] = refresh_admin

    def watch(job):
        while job.running:
            yield job.text()
            time.sleep(0.5)
        yield job.text()

    def generate(admin_name: str, batch_name: str, overlap, criteria, guidelines, source, task, text, file,
                 dataset, src_image, backends, seed, width, height, request: gr.Request,
                 profile: gr.OAuthProfile | None):
        try:
            src_sha = None
            if task == "edit" and src_image:
                s = studio.settings
                img = load_image(src_image, max_bytes=s.max_upload_bytes, max_pixels=s.max_image_pixels)
                src_sha = studio.samples.store_image(img)
            batch_id = generation.plan_batch(
                studio, batch_name, prompts=_prompts(studio, source, text, file, dataset), backends=backends or [],
                task=task, seed=int(seed or 0), width=int(width) if width else None, height=int(height) if height else None,
                source_image=src_sha, overlap=int(overlap or 1), criteria=criteria or ["overall"],
                guidelines=guidelines or "")
        except USER_ERRORS as exc:
            raise gr.Error(str(exc)) from None
        yield from watch(generation.start_job(studio, batch_id))

    c["admin_events"] = []
    c["admin_events"].append(c["gen_go"].click(
        ctx.guard("annotate_generate", generate),
        [c["name"], c["new_name"], c["new_overlap"], c["new_criteria"], c["new_guidelines"], c["gen_source"],
         c["gen_task"], c["gen_text"], c["gen_file"], c["gen_dataset"], c["gen_src_image"], c["gen_backends"],
         c["gen_seed"], c["gen_width"], c["gen_height"]],
        [c["gen_status"]], api_name="annotate_generate",
    ))

    def resume(admin_name: str, batch: str | None, request: gr.Request, profile: gr.OAuthProfile | None):
        if not batch:
            raise gr.Error("Choose the batch to resume in the batch list above.")
        try:
            job = generation.start_job(studio, batch)
        except USER_ERRORS as exc:
            raise gr.Error(str(exc)) from None
        yield from watch(job)

    c["gen_resume"].click(ctx.guard("annotate_generate", resume), [c["name"], c["batch"]], [c["gen_status"]], api_name="annotate_resume")

    def cancel(admin_name: str, batch: str | None, request: gr.Request, profile: gr.OAuthProfile | None):
        if not batch:
            raise gr.Error("Choose the batch whose generation to cancel in the batch list above.")
        try:
            job = generation.cancel_job(studio, batch)
        except USER_ERRORS as exc:
            raise gr.Error(str(exc)) from None
        if job is None:
            return "No generation is running for that batch; Resume makes what is missing."
        return f"Cancelling: {job.text()}. What is made is kept; Resume makes the rest later."

    c["gen_cancel"].click(ctx.guard("annotate_admin", cancel), [c["name"], c["batch"]], [c["gen_status"]],
                          api_name="annotate_cancel_generation")

    def do_import(admin_name: str, batch_name: str, overlap, criteria, guidelines, upload: str | None,
                  request: gr.Request, profile: gr.OAuthProfile | None):
        if not upload:
            raise gr.Error("Upload a pairs file or a zip first.")
        try:
            with tempfile.TemporaryDirectory(prefix="studio-import-") as tmp:
                batch_id = importer.import_upload(studio, batch_name, upload, tmp, overlap=int(overlap or 1),
                                                  criteria=criteria or ["overall"], guidelines=guidelines or "")
        except USER_ERRORS as exc:
            raise gr.Error(str(exc)) from None
        info = service.get_batch(studio, batch_id)
        return f"Imported {info.items} comparisons into batch {info.name!r}."

    c["admin_events"].append(c["imp_go"].click(ctx.guard("annotate_admin", do_import), [c["name"], c["new_name"], c["new_overlap"], c["new_criteria"],
                                  c["new_guidelines"], c["imp_file"]], [c["imp_status"]], api_name="annotate_import"))

    def load_settings(admin_name: str, batch: str | None, request: gr.Request, profile: gr.OAuthProfile | None):
        if not batch:
            raise gr.Error("Choose a batch in the batch list above.")
        try:
            b = service.get_batch(studio, batch)
        except USER_ERRORS as exc:
            raise gr.Error(str(exc)) from None
        info = f"{b.name}: {b.items} items, {b.votes} / {b.target_votes} votes, criteria {', '.join(b.criteria)}"
        return b.overlap, b.status, b.guidelines, info

    c["set_load"].click(ctx.guard("annotate_admin", load_settings), [c["name"], c["batch"]],
                        [c["set_overlap"], c["set_status"], c["set_guidelines"], c["set_info"]],
                        api_name="annotate_batch_settings")

    def save_settings(admin_name: str, batch: str | None, overlap, status, guidelines, request: gr.Request,
                      profile: gr.OAuthProfile | None):
        if not batch:
            raise gr.Error("Choose a batch in the batch list above.")
        try:
            b = service.update_batch(studio, batch, overlap=int(overlap) if overlap else None,
                                     status=status or None, guidelines=guidelines)
        except USER_ERRORS as exc:
            raise gr.Error(str(exc)) from None
        return f"Saved: {b.name}: overlap {b.overlap}, {b.status}, {b.items} items, {b.votes} votes"

    c["admin_events"].append(c["set_save"].click(ctx.guard("annotate_admin", save_settings), [c["name"], c["batch"], c["set_overlap"], c["set_status"],
                                        c["set_guidelines"]], [c["set_info"]], api_name="annotate_save_settings"))
