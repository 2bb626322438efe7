"""The Reason tab's handlers: component values in, one call of :mod:`studio.reasoning`, component values out."""
from __future__ import annotations

import threading

import gradio as gr

from backends.base import Capability
from studio.core import Studio
from studio.images import ImageLoadError
from studio.markup import path_free
from studio.reasoning import ReasoningInputError
from studio.reasoning.examples import get_example, load_examples
from studio.reasoning.modes import MODES
from studio.reasoning.runner import ReasoningRunner
from studio.reasoning.start import RunForm, start_run
from studio.reasoning.store import RunStore
from studio.ui.access import is_admin
from studio.ui.reason_view import chat_messages, status_markdown

NO_REASONER = "(none: render the rationale below)"
#: how a run ended that the person should hear about
UNHAPPY_ENDINGS = ("failed", "refused", "not-converged", "partial")


def backend_choices(studio: Studio, cap: Capability) -> list[tuple[str, str]]:
    return [(f"{e.label} ({e.name})" if e.label != e.name else e.name, e.name) for e in studio.backends.by_capability(cap)]


def image_choices(studio: Studio) -> list[tuple[str, str]]:
    """Backends that can draw an image part: text-to-image first, then edit-only ones."""
    seen, out = set(), []
    for cap in (Capability.TEXT_TO_IMAGE, Capability.EDIT):
        for label, name in backend_choices(studio, cap):
            if name not in seen:
                seen.add(name)
                out.append((label, name))
    return out


def example_choices(studio: Studio) -> list[tuple[str, str]]:
    """Worked examples; one that needs a model the studio lacks says so in its name, before it is loaded."""
    critic = bool(studio.backends.by_capability(Capability.VISION_LANGUAGE))
    return [(e.label if e.mode != "correction" or critic
             else f"{e.label} — needs a vision-language critic (none configured)", e.id) for e in load_examples()]


def has_reasoner(studio: Studio) -> bool:
    return bool(studio.backends.by_capability(Capability.CHAT))


def run_choices(studio: Studio) -> list[tuple[str, str]]:
    return [(r.label, r.id) for r in RunStore(studio).recent(100)]


class ReasonController:
    """What a person does in the Reason tab, one method each."""

    def __init__(self, studio: Studio) -> None:
        self.studio = studio
        self.runner = ReasoningRunner(studio)
        self.store = RunStore(studio)
        #: the running run's stop request, per browser session
        self._stops: dict[str, threading.Event] = {}

    # -- running ----------------------------------------------------------------------------------
    def ask(self, mode, reasoner, image_backend, critic, max_images, rounds, seed, question, image, rationale,
            request: gr.Request = None):
        """Ask the reasoner to write the rationale, then render its image parts."""
        yield from self._run(True, RunForm(mode, question, image, reasoner, image_backend, critic, rationale,
                                           max_images, rounds, seed), request)

    def render(self, mode, reasoner, image_backend, critic, max_images, rounds, seed, question, image, rationale,
               request: gr.Request = None):
        """Render the rationale written in the page (no reasoner)."""
        yield from self._run(False, RunForm(mode, question, image, reasoner, image_backend, critic, rationale,
                                            max_images, rounds, seed), request)

    def _run(self, ask_reasoner: bool, form: RunForm, request: gr.Request | None):
        """Stream, stream, status; the run lists follow the finished run for admins (they list everyone's runs)."""
        keep = gr.update()
        admin = is_admin(self.studio, request)
        session = getattr(request, "session_hash", None) or "api"
        stop = self._stops[session] = threading.Event()
        try:
            started = start_run(self.runner, form, ask_reasoner=ask_reasoner, stop=stop)
        except (ReasoningInputError, ImageLoadError, ValueError) as exc:
            gr.Warning(path_free(exc))
            yield keep, f"⚠️ {exc}", keep, keep, keep
            return
        for notice in started.notices:
            gr.Info(notice)
        state = started.first
        yield chat_messages(self.studio, state), status_markdown(state), keep, keep, keep
        try:
            for state in started.rest:
                yield chat_messages(self.studio, state), status_markdown(state), keep, keep, keep
        finally:
            if self._stops.get(session) is stop:
                del self._stops[session]
        if state.status in UNHAPPY_ENDINGS:
            gr.Warning(status_markdown(state).splitlines()[0].strip("*"))
        if not admin:
            yield chat_messages(self.studio, state), status_markdown(state), keep, keep, keep
            return
        choices = run_choices(self.studio)
        yield (chat_messages(self.studio, state), status_markdown(state),
               gr.update(choices=choices, value=state.run_id), gr.update(choices=choices), gr.update(choices=choices))

    def stop(self, request: gr.Request = None):
        """Stop asks the running run to give up waiting; it then stores what it has and shows the outcome."""
        stop = self._stops.get(getattr(request, "session_hash", None) or "api")
        if stop is None:
            gr.Info("nothing is running")
        else:
            stop.set()
            gr.Info("stopping: parts not finished yet are kept as stopped")

    # -- the form ---------------------------------------------------------------------------------
    def describe_mode(self, mode):
        return f"*{MODES[mode].hint}*" if mode in MODES else ""

    def load_example(self, example_id):
        """Mode, question, image and rationale of a worked example, and what to press next."""
        if not example_id:
            gr.Warning("pick an example first")
            return gr.update(), gr.update(), gr.update(), gr.update(), "⚠️ pick an example first"
        ex = get_example(example_id)
        path = ex.image_path()
        note = f"Loaded **{ex.id}** ({ex.source})."
        if ex.mode == "correction" and not self.studio.backends.by_capability(Capability.VISION_LANGUAGE):
            note += (" It cannot run here: image correction needs a vision-language critic and none is configured "
                     "(add an `openai-chat` or `transformers-chat` backend with vision to the backends config, then "
                     "*Reload the backends config* in the Backends panel).")
        elif ex.mode == "correction":
            note += " Image correction needs a vision-language critic: pick one and press *Ask the reasoner*."
        elif not has_reasoner(self.studio):
            note += " Press *Render this rationale* to render it (no reasoner is configured to ask)."
        else:
            note += " Press *Render this rationale* to render it without a reasoner, or *Ask the reasoner*."
        return ex.mode, ex.question, str(path) if path else None, ex.rationale, note

    # -- runs as data -----------------------------------------------------------------------------
    def export(self, run_id, dataset):
        if not run_id:
            gr.Warning("pick a run to export")
            return "⚠️ pick a run to export"
        try:
            sample_id, created = self.store.export_sample(run_id, dataset)
        except ReasoningInputError as exc:
            gr.Warning(path_free(exc))
            return f"⚠️ {exc}"
        return (f"✅ exported as sample `{sample_id}`" if created
                else f"this run was already exported as sample `{sample_id}`")

    def send_to_annotation(self, run_a, run_b, batch):
        if not run_a or not run_b:
            gr.Warning("pick run A and run B")
            return "⚠️ pick run A and run B"
        try:
            item = self.store.send_to_annotation(run_a, run_b, batch)
        except ReasoningInputError as exc:
            gr.Warning(path_free(exc))
            return f"⚠️ {exc}"
        return f"✅ added to annotation batch **{batch or 'reasoning'}** (item `{item[:8]}`)"

    def refresh_runs(self):
        choices = run_choices(self.studio)
        return gr.update(choices=choices), gr.update(choices=choices), gr.update(choices=choices)
