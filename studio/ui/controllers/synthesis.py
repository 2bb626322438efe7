"""The Synthesis tab's handlers: preview prompts, run and watch batches, look at their images, caption an
upload, coverage, import and export.

Each method takes component values, calls ``studio.synthesis.service`` (the engine's entry points for
this tab) and turns the answer into component values; the engine decides and validates.
"""
from __future__ import annotations

import gradio as gr
import pandas as pd

from studio.markup import md_text

#: the image-backend choice that makes prompts only, and the chat-backend choice "none"
PROMPTS_ONLY = "(prompts only)"
NO_CHAT = "(none)"
FAILED_TILE_PX = 64


def _svc():
    from studio.synthesis import service

    return service


def image_backend_choices(backends) -> list[str]:
    return [PROMPTS_ONLY] + [e.name for e in backends.by_capability("text-to-image")]


def chat_backend_choices(backends) -> list[str]:
    return [NO_CHAT] + [e.name for e in backends.by_capability("chat")]


def first_backend(choices: list[str]) -> str:
    """A backend when there is one (the sentinel otherwise)."""
    return choices[1] if len(choices) > 1 else choices[0]


def image_defaults(backends, name: str | None) -> tuple[int, int, int | None]:
    """(width, height, steps) the image backend renders at by its own declaration; the batch's defaults for
    what it does not declare (steps None: the backend's own)."""
    from backends.base import BackendError

    size = _svc().BatchOptions()
    own = {}
    if name and name != PROMPTS_ONLY:
        try:
            own = backends.defaults(name)
        except BackendError:  # dropped from the config meanwhile: the batch check names the fix
            own = {}
    return int(own.get("width") or size.width), int(own.get("height") or size.height), own.get("steps")


def _failed_tile():
    from PIL import Image

    return Image.new("RGB", (FAILED_TILE_PX, FAILED_TILE_PX), (190, 190, 190))


def _backend_or_none(value: str | None, sentinel: str) -> str | None:
    return None if value in (None, sentinel) else value


class SynthesisController:
    """Built from the studio (taxonomy, backends, samples, images, settings: the service reads them)."""

    def __init__(self, studio) -> None:
        self.studio = studio
        self.svc = _svc()

    # -- planning ----------------------------------------------------------------------------------
    def k_distribution(self, lam):
        try:
            return pd.DataFrame(self.svc.k_table(float(lam)))
        except (TypeError, ValueError) as exc:
            gr.Warning(str(exc))
            return gr.skip()

    def preview(self, nodes, count, seed, method, mix, lam, near, thr, image_first, skip_existing, dataset):
        """A generator: Gradio asks for each step in turn and stops asking on Stop or a closed page, which
        ends the planning within one chunk (the service's preview_steps does the work step by step)."""
        svc = self.svc
        try:
            req = svc.build_request(nodes, count, seed, method, mix, lam, near, thr, image_first, skip_existing)
            for done, res in svc.preview_steps(self.studio, req, dataset):
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

    # -- batches -----------------------------------------------------------------------------------
    def backend_defaults(self, images):
        """The size and steps fields, from the chosen image backend's own defaults (steps 0: its own)."""
        width, height, steps = image_defaults(self.studio.backends, images)
        return width, height, steps or 0

    def run(self, nodes, count, seed, method, mix, lam, near, thr, image_first, skip_existing, images, chat,
            dataset, conc, rpm, width=None, height=None, steps=None):
        """Plan and store the batch, then start it; the picker selects it."""
        from backends.base import BackendError
        from studio.synthesis.llm import NoChatBackend

        svc = self.svc
        own_w, own_h, _ = image_defaults(self.studio.backends, images)
        try:
            req = svc.build_request(nodes, count, seed, method, mix, lam, near, thr, image_first, skip_existing)
            opts = svc.BatchOptions(dataset=dataset, images_backend=_backend_or_none(images, PROMPTS_ONLY),
                                    chat_backend=_backend_or_none(chat, NO_CHAT),
                                    concurrency=int(conc or 1), requests_per_minute=float(rpm) if rpm else None,
                                    width=int(width or own_w), height=int(height or own_h),
                                    steps=int(steps) if steps else None)
            batch_id = svc.create_batch(self.studio, req, opts, name=f"{method} seed {int(seed)}")
            svc.start_batch(self.studio, batch_id)
        except (svc.SynthesisError, NoChatBackend, BackendError, ValueError) as exc:
            raise gr.Error(str(exc))
        return (gr.Dropdown(choices=svc.batch_choices(self.studio), value=batch_id),
                svc.progress_markdown(self.studio, batch_id))

    def status(self, batch_id):
        """The batch's progress and its failed items."""
        if not batch_id:
            return gr.skip(), gr.skip()
        try:
            failures = [[f["position"], f["node"], f["text"], f["error"], f["raw_output"]]
                        for f in self.svc.batch_items(self.studio, batch_id, "failed", 100)]
            return self.svc.progress_markdown(self.studio, batch_id), failures
        except self.svc.SynthesisError as exc:
            return str(exc), []

    def gallery(self, batch_id, shown):
        """The gallery of the batch's images and the picker's current labels, sent only when they changed."""
        from studio.synthesis.batch_queries import batch_gallery

        if not batch_id:
            return gr.skip(), gr.skip(), gr.skip(), shown
        items = batch_gallery(self.studio, batch_id)
        choices = self.svc.batch_choices(self.studio)
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

    def batch_list(self):
        return gr.Dropdown(choices=self.svc.batch_choices(self.studio))

    def _control(self, batch_id, act) -> str:
        if not batch_id:
            raise gr.Error("Pick a batch first.")
        try:
            act(batch_id)
        except self.svc.SynthesisError as exc:
            raise gr.Error(str(exc))
        return self.svc.progress_markdown(self.studio, batch_id)

    def cancel(self, batch_id):
        return self._control(batch_id, lambda b: gr.Info(f"Batch {self.svc.cancel_batch(self.studio, b)}."))

    def resume(self, batch_id):
        return self._control(batch_id, lambda b: self.svc.start_batch(self.studio, b))

    def retry_failed(self, batch_id):
        def act(b):
            gr.Info(f"{self.svc.retry_failed(self.studio, b)} failed item(s) queued again.")
            self.svc.start_batch(self.studio, b)

        return self._control(batch_id, act)

    # -- image-first caption, coverage, import, export ----------------------------------------------
    def caption(self, image, node, chat, dataset):
        from backends.base import BackendError
        from studio.images import ImageLoadError

        if not image:
            raise gr.Error("Upload an image first.")
        try:
            res = self.svc.caption_upload(self.studio, image, _backend_or_none(chat, NO_CHAT), node or None, dataset)
        except (self.svc.SynthesisError, BackendError, ImageLoadError) as exc:
            raise gr.Error(str(exc))
        gr.Info(f"Stored as sample {res['sample_id'][:8]}.")
        return res["caption"], res["meta_prompt"]

    def coverage(self, dataset):
        """Samples per taxonomy leaf against the paper's target shares: a chart of the leaves held, the table."""
        rows = self.svc.coverage_rows(self.studio, dataset.strip() or None)
        df = pd.DataFrame(rows)
        held = [r for r in rows if r["samples"]] or rows[:20]
        plot = pd.DataFrame([{"node": r["node"].split("/", 1)[-1], "series": s, "value": r[k] or 0}
                             for r in held for s, k in (("samples share", "share"), ("paper target share", "target share"))])
        if not held or not any(r["samples"] for r in rows):
            note = ("No samples in this dataset yet: run a synthesis batch (above) and refresh; the targets are "
                    "listed below.")
            return gr.update(visible=False), gr.update(value=df, visible=True), note
        return gr.update(value=plot, visible=True), gr.update(value=df, visible=True), ""

    def import_dataset(self, upload, server_path, good_only, dataset, progress=gr.Progress()):
        """An uploaded file, or a path on the server inside the folders it may read."""
        from studio.serverpaths import ServerPathRefused, confine

        svc = self.svc
        path = upload or (server_path or "").strip()
        if not path:
            raise gr.Error("Upload a dataset file or give a server path.")
        try:
            if upload:
                report = svc.import_upload(self.studio, upload, good_only, dataset)
            else:
                report = svc.import_dataset(self.studio, confine(self.studio.settings, path), good_rows_only=good_only,
                                            dataset=dataset or None,
                                            progress=lambda d, t: progress(d / max(t, 1), desc=f"{d}/{t} rows"))
        except ServerPathRefused as exc:
            raise gr.Error(str(exc)) from None
        except svc.ImportFailed as exc:
            raise gr.Error(str(exc))
        lines = [f"**{md_text(report.summary())}**"] + [f"- {md_text(i)}" for i in report.issues[:100]]
        if len(report.issues) > 100:
            lines.append(f"- … and {len(report.issues) - 100} more")
        if report.issues and not report.applied:
            lines.append("\nTick *Import the good rows* to import the rows without problems.")
        return "\n".join(lines)

    def export(self, fmt, dataset):
        from studio.synthesis.export import ExportError

        try:
            path, summary = self.svc.export_zip(self.studio, fmt, dataset.strip() or None)
        except ExportError as exc:
            raise gr.Error(str(exc))
        return str(path), md_text(summary)
