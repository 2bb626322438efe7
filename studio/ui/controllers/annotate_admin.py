"""The Annotate tab's batch-making handlers (admins): generate with backends, import pairs, settings."""
import tempfile
import time
from contextlib import contextmanager
from typing import Iterator

import gradio as gr

from studio.annotation import AnnotationError, generation, importer, service
from studio.core import Studio
from studio.images import ImageLoadError, load_image
from studio.ui.access import current_identity

SOURCES = ["Pasted list", "Prompt file", "Dataset", "Synthesis batch"]
USER_ERRORS = (AnnotationError, ImageLoadError, ValueError)


class BatchAdminController:
    def __init__(self, studio: Studio) -> None:
        self.studio = studio

    def all_backends(self):
        """The backend choices as the registry has them now."""
        return gr.update(choices=self.studio.backends.names())

    def backend_choices(self, name: str, request: gr.Request, profile: gr.OAuthProfile | None):
        """The backend list, for admins (once signed in)."""
        who = current_identity(self.studio.settings, name, request, profile)
        if who is None or not who.is_admin:
            return gr.update()
        return self.all_backends()

    def generate(self, admin_name: str, batch_name: str, overlap, criteria, added, guidelines, source, task, text,
                 file, dataset, src_image, backends, seed, width, height, gold_rate, active_order,
                 request: gr.Request, profile: gr.OAuthProfile | None) -> Iterator[str]:
        """Plan a new batch of every pair of ``backends`` on the prompts, then make it (streams progress)."""
        studio = self.studio
        with _page_error():
            src_sha = None
            if task == "edit" and src_image:
                s = studio.settings
                img = load_image(src_image, max_bytes=s.max_upload_bytes, max_pixels=s.max_image_pixels)
                src_sha = studio.samples.store_image(img)
            batch_id = generation.plan_batch(
                studio, batch_name, prompts=self._prompts(source, text, file, dataset), backends=backends or [],
                task=task, seed=int(seed or 0), width=int(width) if width else None,
                height=int(height) if height else None, source_image=src_sha, overlap=int(overlap or 1),
                criteria=criteria or None, added_criteria=_names(added), guidelines=guidelines or "",
                gold_rate=float(gold_rate or 0), active_order=bool(active_order))
        yield from self._watch(generation.start_job(studio, batch_id))

    def resume(self, admin_name: str, batch: str | None, request: gr.Request,
               profile: gr.OAuthProfile | None) -> Iterator[str]:
        """Make what is missing of the selected batch (streams progress)."""
        if not batch:
            raise gr.Error("Choose the batch to resume in the batch list above.")
        with _page_error():
            job = generation.start_job(self.studio, batch)
        yield from self._watch(job)

    def cancel(self, admin_name: str, batch: str | None, request: gr.Request, profile: gr.OAuthProfile | None) -> str:
        if not batch:
            raise gr.Error("Choose the batch whose generation to cancel in the batch list above.")
        with _page_error():
            job = generation.cancel_job(self.studio, batch)
        if job is None:
            return "No generation is running for that batch; Resume makes what is missing."
        return f"Cancelling: {job.text()}. What is made is kept; Resume makes the rest later."

    def import_pairs(self, admin_name: str, batch_name: str, overlap, criteria, added, guidelines,
                     upload: str | None, request: gr.Request, profile: gr.OAuthProfile | None) -> str:
        if not upload:
            raise gr.Error("Upload a pairs file or a zip first.")
        with _page_error():
            with tempfile.TemporaryDirectory(prefix="studio-import-") as tmp:
                batch_id = importer.import_upload(self.studio, batch_name, upload, tmp, overlap=int(overlap or 1),
                                                  criteria=criteria or None, added_criteria=_names(added),
                                                  guidelines=guidelines or "")
        info = service.get_batch(self.studio, batch_id)
        return f"Imported {info.items} comparisons into batch {info.name!r}."

    def load_settings(self, admin_name: str, batch: str | None, request: gr.Request,
                      profile: gr.OAuthProfile | None):
        """(overlap, status, guidelines, summary) of the selected batch."""
        if not batch:
            raise gr.Error("Choose a batch in the batch list above.")
        with _page_error():
            b = service.get_batch(self.studio, batch)
        info = f"{b.name}: {b.items} items, {b.votes} / {b.target_votes} votes, criteria {', '.join(b.criteria)}"
        return b.overlap, b.status, b.guidelines, info

    def save_settings(self, admin_name: str, batch: str | None, overlap, status, guidelines, request: gr.Request,
                      profile: gr.OAuthProfile | None) -> str:
        if not batch:
            raise gr.Error("Choose a batch in the batch list above.")
        with _page_error():
            b = service.update_batch(self.studio, batch, overlap=int(overlap) if overlap else None,
                                     status=status or None, guidelines=guidelines)
        return f"Saved: {b.name}: overlap {b.overlap}, {b.status}, {b.items} items, {b.votes} votes"

    def _prompts(self, source: str, text: str, file: str | None, dataset: str) -> list[dict]:
        """The prompts from where the admin chose (one of :data:`SOURCES`)."""
        if source == "Pasted list":
            return generation.prompts_from_text(text)
        if source == "Prompt file":
            if not file:
                raise AnnotationError("upload a prompt file first")
            return generation.prompts_from_file(file)
        if source == "Dataset":
            return generation.prompts_from_samples(self.studio, dataset=(dataset or "").strip())
        return generation.prompts_from_samples(self.studio, synthesis_batch=(dataset or "").strip())

    @staticmethod
    def _watch(job) -> Iterator[str]:
        while job.running:
            yield job.text()
            time.sleep(0.5)
        yield job.text()


def _names(text: str | None) -> list[str]:
    """Criteria an admin typed, comma-separated, as the engine names them ("text rendering" → text_rendering)."""
    return [part.strip().lower().replace(" ", "_") for part in (text or "").split(",") if part.strip()]


@contextmanager
def _page_error():
    """What the admin can mend (a refused plan, import or setting) comes back as the page's error."""
    try:
        yield
    except USER_ERRORS as exc:
        raise gr.Error(str(exc)) from None
