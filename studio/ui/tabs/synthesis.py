"""Synthesis tab: pick nodes, preview prompts, run batches, dedup, coverage, import and export."""
from __future__ import annotations

from typing import Any

import json

import gradio as gr
import pandas as pd

from studio.markup import md_text
from studio.ui.context import TabSpec, UIContext

METHODS = [("Template (OpenGPT-4o-Image pools)", "template"),
           ("Attributes (ShareGPT-4o-Image six dimensions)", "attributes"), ("LLM composition", "llm")]


def _svc():
    from studio.synthesis import service

    return service


def build(ctx: UIContext) -> None:
    studio = ctx.studio
    c: dict = {}
    try:
        choices = _svc().node_choices(studio)
    except Exception as exc:  # a broken taxonomy file must not take the tab down
        choices = []
        gr.Markdown(f"⚠️ Taxonomy not loaded: {exc}")
    gr.Markdown("### Synthesize prompts and edit instructions\nPreview first: nothing calls a model until you run a batch.")
    with gr.Row():
        c["nodes"] = ctx.register("synthesis.nodes", gr.Dropdown(
            choices=choices, multiselect=True, allow_custom_value=True, label="Taxonomy nodes",
            elem_id="synth-nodes", scale=3))
        c["count"] = gr.Number(value=8, precision=0, label="Count", elem_id="synth-count", minimum=1,
                               info=f"Preview: up to {_svc().MAX_PREVIEW_COUNT:,} rows; a batch takes more.")
        c["seed"] = gr.Number(value=0, precision=0, label="Seed", elem_id="synth-seed")
    with gr.Row():
        c["method"] = gr.Radio(METHODS, value="template", label="Method", elem_id="synth-method",
                               info="The papers give the methods; pool words, templates, attribute values and "
                                    "difficulty bands are the studio's (see each YAML's source).")
        c["mix"] = gr.Dropdown([(label, value) for value, label in _svc().DIFFICULTY_MIXES],
                               value=_svc().DEFAULT_DIFFICULTY_MIX, allow_custom_value=True, elem_id="synth-mix",
                               label="Difficulty mix (easy:medium:hard)",
                               info="Only the method default keeps the paper's k distribution for attributes; "
                                    "the other mixes are the studio's.")
        c["image_first"] = gr.Checkbox(
            False, label="LLM: caption the studio's own rendered draft (image-first, studio variant)",
            info="The paper captions real photographs: for that, use the upload under Image-first below.",
            elem_id="synth-image-first")
    with gr.Row():
        c["lam"] = gr.Number(value=_svc().DEFAULT_LAMBDA, label="λ for k ~ exp(-λ(k-1)), k = 1..100",
                             info="Studio default 0.5: the paper gives the formula but no value.", elem_id="synth-lambda")
        c["near"] = gr.Dropdown([("MinHash (fast)", "minhash"), ("Embeddings: all-MiniLM-L6-v2 (first use loads the model)", "embedding"),
                                 ("Auto (embeddings up to 20,000 rows)", "auto"), ("Exact duplicates only", "off")],
                                value="minhash", label="Near-duplicates")
        c["threshold"] = gr.Slider(0.5, 1.0, value=0.9, step=0.01, label="Near-duplicate threshold (cosine for embeddings, estimated Jaccard for MinHash)")
        c["skip_existing"] = gr.Checkbox(True, label="Skip prompts the dataset already has", elem_id="synth-skip-existing")
    c["kplot"] = gr.BarPlot(value=pd.DataFrame(_svc().k_table(_svc().DEFAULT_LAMBDA)), x="k", y="probability", title="Distribution of the number of objects k", height=220,
                            elem_id="synth-kplot")
    with gr.Row():
        c["preview_btn"] = gr.Button("Preview", variant="primary", elem_id="synth-preview")
        c["preview_stop"] = gr.Button("Stop preview", variant="stop", elem_id="synth-preview-stop")
    c["notice"] = gr.Markdown(elem_id="synth-notice")
    c["table"] = gr.Dataframe(headers=_svc().PREVIEW_COLUMNS, interactive=False, wrap=True, elem_id="synth-table",
                              column_widths=["40px", "28%", "14%", "70px", "22%", "12%", "14%", "10%"])
    with gr.Accordion("Dropped duplicates", open=False):
        c["dropped"] = gr.Dataframe(headers=["#", "text", "reason"], interactive=False, wrap=True)
    with gr.Accordion("Meta-prompts sent to the LLM", open=False):
        c["meta"] = gr.JSON(label="Rendered meta-prompts (LLM method); each names the paper text it follows "
                                  "or says it is the studio's reading")

    gr.Markdown("### Batch")
    t2i = ["(prompts only)"] + [e.name for e in studio.backends.by_capability("text-to-image")]
    chat = ["(none)"] + [e.name for e in studio.backends.by_capability("chat")]
    with gr.Row():
        c["images"] = gr.Dropdown(t2i, value=t2i[1] if len(t2i) > 1 else t2i[0], label="Image backend", elem_id="synth-images")
        c["chat"] = gr.Dropdown(chat, value=chat[1] if len(chat) > 1 else chat[0], label="Chat backend (LLM method)")
        ctx.follow_backends(c["images"], lambda: gr.update(
            choices=["(prompts only)"] + [e.name for e in studio.backends.by_capability("text-to-image")]))
        ctx.follow_backends(c["chat"], lambda: gr.update(
            choices=["(none)"] + [e.name for e in studio.backends.by_capability("chat")]))
        c["dataset"] = gr.Textbox("synthesis", label="Dataset name", elem_id="synth-dataset")
        c["concurrency"] = gr.Number(4, precision=0, label="Concurrency")
        c["rpm"] = gr.Number(0, label="LLM requests/minute (0: no limit)", minimum=0)
    with gr.Row():
        c["run_btn"] = gr.Button("Run batch", variant="primary", elem_id="synth-run")
        c["batch"] = gr.Dropdown(choices=_safe_batches(studio), label="Batches (they keep running if you close the browser)",
                                 elem_id="synth-batch", scale=3)
    c["progress"] = gr.Markdown("No batch selected.", elem_id="synth-progress")
    with gr.Row():
        c["cancel_btn"] = gr.Button("Cancel")
        c["resume_btn"] = gr.Button("Resume")
        c["retry_btn"] = gr.Button("Retry failed")
    c["gallery_note"] = gr.Markdown("The images of the selected batch appear here with their prompts as they "
                                    "are made; run a batch with an image backend, or pick one above.",
                                    elem_id="synth-gallery-note")
    c["gallery"] = gr.Gallery(label="Images of the selected batch", columns=6, height=360, object_fit="contain",
                              elem_id="synth-gallery", visible=False)
    with gr.Accordion("Failed items", open=False):
        c["failures"] = gr.Dataframe(headers=["position", "node", "text", "error", "raw_output"], interactive=False, wrap=True)
    c["timer"] = gr.Timer(2.0)

    with gr.Accordion("Image-first: caption an uploaded image into a prompt (uses the chat backend above)", open=False):
        with gr.Row():
            c["cap_image"] = gr.Image(type="filepath", label="Image", sources=["upload"])
            c["cap_node"] = gr.Dropdown(choices=[""] + choices, value="", label="Base task (taxonomy node, optional)")
            c["cap_btn"] = gr.Button("Caption and store")
        c["cap_text"] = gr.Textbox(label="Prompt written by the LLM", interactive=False)
        c["cap_meta"] = gr.JSON(label="Meta-prompt sent")

    gr.Markdown("### Coverage")
    with gr.Row():
        c["cov_dataset"] = gr.Textbox("", label="Dataset (empty: all)")
        c["cov_btn"] = gr.Button("Refresh coverage", elem_id="synth-coverage-btn")
    c["cov_note"] = gr.Markdown("Press **Refresh coverage** to compare the samples held per taxonomy leaf with the "
                                "paper's target shares (a chart and a table appear here).", elem_id="synth-coverage-note")
    c["cov_plot"] = gr.BarPlot(x="node", y="value", color="series", title="Share of samples vs paper target share",
                               x_label_angle=-60, height=320, visible=False)
    c["cov_table"] = gr.Dataframe(interactive=False, elem_id="synth-coverage", visible=False)

    gr.Markdown("### Import / export")
    with gr.Row():
        c["upload"] = gr.File(label="Dataset (.json, .jsonl, or .zip of a dataset folder)", file_types=[".json", ".jsonl", ".zip"])
        c["server_path"] = gr.Textbox(label="…or a path on the server")
        c["good_only"] = gr.Checkbox(False, label="Import the good rows even if some are bad")
        c["imp_dataset"] = gr.Textbox("", label="Dataset name (empty: from the file)")
        c["import_btn"] = gr.Button("Import")
    c["import_report"] = gr.Markdown()
    with gr.Row():
        c["exp_fmt"] = gr.Dropdown(["sharegpt4o", "opengpt4o", "studio"], value="sharegpt4o", label="Layout")
        c["exp_dataset"] = gr.Textbox("", label="Dataset (empty: all)")
        c["export_btn"] = gr.Button("Export")
        c["export_file"] = gr.File(label="Download", interactive=False)
    c["export_report"] = gr.Markdown()
    ctx.components["synthesis._all"] = c


def _safe_batches(studio):
    try:
        _svc().mark_interrupted(studio)
        return _svc().batch_choices(studio)
    except Exception:  # noqa: BLE001 - the list is refreshed by the timer
        return []


def _failed_tile():
    from PIL import Image

    return Image.new("RGB", (64, 64), (190, 190, 190))


def wire(ctx: UIContext, ui: Any = None) -> None:
    c = ctx.components["synthesis._all"]
    studio = ctx.studio
    svc = _svc()
    from studio.synthesis.batch_queries import batch_gallery

    def kplot(lam):
        try:
            return pd.DataFrame(svc.k_table(float(lam)))
        except (TypeError, ValueError) as exc:
            gr.Warning(str(exc))
            return gr.skip()

    c["lam"].change(ctx.guard("browse", kplot), [c["lam"]], [c["kplot"]], api_name="synthesis_k_distribution")

    def do_preview(nodes, count, seed, method, mix, lam, near, thr, image_first, skip_existing, dataset):
        # A generator: Gradio asks for each step in turn and stops asking on Stop or a closed page,
        # which ends the planning within one chunk (svc.preview_steps does the work step by step).
        try:
            req = svc.build_request(nodes, count, seed, method, mix, lam, near, thr, image_first, skip_existing)
            for done, res in svc.preview_steps(studio, req, dataset):
                if not res:
                    yield gr.skip(), gr.skip(), gr.skip(), f"Planning… {done:,} of {req.count:,} rows"
        except (svc.SynthesisError, ValueError) as exc:
            # the old rows would read as this request's result: clear them and say what to change
            gr.Warning(str(exc))
            yield ([], [], {}, f"⚠️ Nothing planned: {md_text(exc)}\n\nChange the settings above and press "
                               "Preview again.")
            return
        note = f"{len(res['table'])} rows · dedup: {res['dedup_method']}, {len(res['dropped'])} dropped"
        if res["notices"]:
            note += "\n\n" + "\n".join(f"⚠️ {n}" for n in res["notices"])
        yield res["table"], res["dropped"], res["meta_prompts"], note

    inputs = [c["nodes"], c["count"], c["seed"], c["method"], c["mix"], c["lam"], c["near"], c["threshold"],
              c["image_first"], c["skip_existing"]]
    preview_event = c["preview_btn"].click(ctx.guard("synthesis_preview", do_preview), inputs + [c["dataset"]],
                                           [c["table"], c["dropped"], c["meta"], c["notice"]],
                                           api_name="synthesis_preview")
    c["preview_stop"].click(None, None, None, cancels=[preview_event], api_name=False)

    def do_run(nodes, count, seed, method, mix, lam, near, thr, image_first, skip_existing, images, chat, dataset,
               conc, rpm):
        from backends.base import BackendError
        from studio.synthesis.llm import NoChatBackend

        try:
            req = svc.build_request(nodes, count, seed, method, mix, lam, near, thr, image_first, skip_existing)
            opts = svc.BatchOptions(dataset=dataset, images_backend=None if images in (None, "(prompts only)") else images,
                                    chat_backend=None if chat in (None, "(none)") else chat,
                                    concurrency=int(conc or 1), requests_per_minute=float(rpm) if rpm else None)
            batch_id = svc.create_batch(studio, req, opts, name=f"{method} seed {int(seed)}")
            svc.start_batch(studio, batch_id)
        except (svc.SynthesisError, NoChatBackend, BackendError, ValueError) as exc:
            raise gr.Error(str(exc))
        return gr.Dropdown(choices=svc.batch_choices(studio), value=batch_id), svc.progress_markdown(studio, batch_id)

    c["run_btn"].click(ctx.guard("synthesis_batches", do_run), inputs + [c["images"], c["chat"], c["dataset"], c["concurrency"], c["rpm"]],
                       [c["batch"], c["progress"]], api_name="synthesis_run")

    def poll(batch_id):
        if not batch_id:
            return gr.skip(), gr.skip()
        try:
            failures = [[f["position"], f["node"], f["text"], f["error"], f["raw_output"]]
                        for f in svc.batch_items(studio, batch_id, "failed", 100)]
            return svc.progress_markdown(studio, batch_id), failures
        except svc.SynthesisError as exc:
            return str(exc), []

    poll = ctx.guard("synthesis_batches", poll)
    c["timer"].tick(poll, [c["batch"]], [c["progress"], c["failures"]], show_progress="hidden")
    c["batch"].change(poll, [c["batch"]], [c["progress"], c["failures"]], api_name="synthesis_status")

    def look(batch_id, shown):
        """The gallery of the batch's images and the picker's current labels, sent only when they changed."""
        if not batch_id:
            return gr.skip(), gr.skip(), gr.skip(), shown
        items = batch_gallery(studio, batch_id)
        choices = svc.batch_choices(studio)
        key = [batch_id, [list(ch) for ch in choices], [[i["state"], i["image"]] for i in items]]
        if key == shown:
            return gr.skip(), gr.skip(), gr.skip(), shown
        tiles = [(i["image"], f"#{i['position']} {i['prompt']}") for i in items if i["image"]]
        failed = [i for i in items if i["state"] == "failed"]
        tiles += [(_failed_tile(), f"✗ failed #{i['position']}: {i['prompt']} — {i['error'] or ''}") for i in failed]
        note = f"{len(tiles) - len(failed)} image(s) made" + (f", {len(failed)} failed (grey tiles)" if failed else "")
        note += (" — more come in as they are made." if any(i["state"] in ("pending", "running") for i in items)
                 else ".")
        if not tiles:
            note = ("No images in this batch yet: a batch run with an image backend shows its images here as they "
                    "are made (a prompts-only batch has none).")
        return (gr.update(value=note), gr.update(value=tiles, visible=bool(tiles)), gr.update(choices=choices), key)

    look = ctx.guard("synthesis_batches", look)
    c["shown"] = gr.State(None)
    look_out = [c["gallery_note"], c["gallery"], c["batch"], c["shown"]]
    c["timer"].tick(look, [c["batch"], c["shown"]], look_out, show_progress="hidden")
    c["batch"].change(look, [c["batch"], c["shown"]], look_out, api_name="synthesis_gallery")
    c["batch"].focus(ctx.guard("synthesis_batches", lambda: gr.Dropdown(choices=svc.batch_choices(studio))), None, [c["batch"]])

    def control(action):
        def handler(batch_id):
            if not batch_id:
                raise gr.Error("Pick a batch first.")
            try:
                if action == "cancel":
                    gr.Info(f"Batch {svc.cancel_batch(studio, batch_id)}.")
                elif action == "retry":
                    n = svc.retry_failed(studio, batch_id)
                    gr.Info(f"{n} failed item(s) queued again.")
                    svc.start_batch(studio, batch_id)
                else:
                    svc.start_batch(studio, batch_id)
            except svc.SynthesisError as exc:
                raise gr.Error(str(exc))
            return svc.progress_markdown(studio, batch_id)
        return handler

    c["cancel_btn"].click(ctx.guard("synthesis_batches", control("cancel")), [c["batch"]], [c["progress"]], api_name="synthesis_cancel")
    c["resume_btn"].click(ctx.guard("synthesis_batches", control("resume")), [c["batch"]], [c["progress"]], api_name="synthesis_resume")
    c["retry_btn"].click(ctx.guard("synthesis_batches", control("retry")), [c["batch"]], [c["progress"]], api_name="synthesis_retry")

    def caption(image, node, chat, dataset):
        from backends.base import BackendError
        from studio.images import ImageLoadError

        if not image:
            raise gr.Error("Upload an image first.")
        try:
            res = svc.caption_upload(studio, image, None if chat in (None, "(none)") else chat, node or None, dataset)
        except (svc.SynthesisError, BackendError, ImageLoadError) as exc:
            raise gr.Error(str(exc))
        gr.Info(f"Stored as sample {res['sample_id'][:8]}.")
        return res["caption"], res["meta_prompt"]

    c["cap_btn"].click(ctx.guard("datasets", caption), [c["cap_image"], c["cap_node"], c["chat"], c["dataset"]], [c["cap_text"], c["cap_meta"]],
                       api_name="synthesis_caption")

    def coverage(dataset):
        rows = svc.coverage_rows(studio, dataset.strip() or None)
        df = pd.DataFrame(rows)
        held = [r for r in rows if r["samples"]] or rows[:20]
        plot = pd.DataFrame([{"node": r["node"].split("/", 1)[-1], "series": s, "value": r[k] or 0}
                             for r in held for s, k in (("samples share", "share"), ("paper target share", "target share"))])
        if not held or not any(r["samples"] for r in rows):
            note = ("No samples in this dataset yet: run a synthesis batch (above) and refresh; the targets are "
                    "listed below.")
            return gr.update(visible=False), gr.update(value=df, visible=True), note
        return gr.update(value=plot, visible=True), gr.update(value=df, visible=True), ""

    c["cov_btn"].click(ctx.guard("synthesis_batches", coverage), [c["cov_dataset"]],
                       [c["cov_plot"], c["cov_table"], c["cov_note"]], api_name="synthesis_coverage")

    def do_import(upload, server_path, good_only, dataset, progress=gr.Progress()):
        from studio.serverpaths import ServerPathRefused, confine

        path = upload or (server_path or "").strip()
        if not path:
            raise gr.Error("Upload a dataset file or give a server path.")
        try:
            if not upload:
                path = confine(studio.settings, path)
        except ServerPathRefused as exc:
            raise gr.Error(str(exc)) from None
        try:
            if upload:
                report = svc.import_upload(studio, upload, good_only, dataset)
            else:
                report = svc.import_dataset(studio, path, good_rows_only=good_only, dataset=dataset or None,
                                            progress=lambda d, t: progress(d / max(t, 1), desc=f"{d}/{t} rows"))
        except svc.ImportFailed as exc:
            raise gr.Error(str(exc))
        lines = [f"**{md_text(report.summary())}**"] + [f"- {md_text(i)}" for i in report.issues[:100]]
        if len(report.issues) > 100:
            lines.append(f"- … and {len(report.issues) - 100} more")
        if report.issues and not report.applied:
            lines.append("\nTick *Import the good rows* to import the rows without problems.")
        return "\n".join(lines)

    c["import_btn"].click(ctx.guard("datasets", do_import), [c["upload"], c["server_path"], c["good_only"], c["imp_dataset"]],
                          [c["import_report"]], api_name="synthesis_import")

    def do_export(fmt, dataset):
        from studio.synthesis.export import ExportError

        try:
            path, summary = svc.export_zip(studio, fmt, dataset.strip() or None)
        except ExportError as exc:
            raise gr.Error(str(exc))
        return str(path), md_text(summary)

    c["export_btn"].click(ctx.guard("datasets", do_export), [c["exp_fmt"], c["exp_dataset"]], [c["export_file"], c["export_report"]],
                          api_name="synthesis_export")


TAB = TabSpec(id="synthesis", title="Synthesis", order=20, build=build, wire=wire)
