"""Reason tab: a reasoner writes a rationale with [image: …] parts, image backends render them as they
are ready, and each run is kept, exported as a UnifiedVisual-style sample or sent to annotation."""
from __future__ import annotations

from typing import Any

import logging
import threading

import gradio as gr

from backends.base import Capability
from studio.images import ImageLoadError, fit_within, load_image
from studio.reasoning import ReasoningInputError
from studio.reasoning.examples import EXAMPLES_DIR, get_example, load_examples
from studio.reasoning.modes import (DEFAULT_MAX_IMAGES, DEFAULT_MAX_ROUNDS, MAX_IMAGES_LIMIT, MAX_ROUNDS_LIMIT, MODES,
                                    NOT_OFFERED)
from studio.reasoning.runner import ReasoningRunner
from studio.reasoning.state import RunRequest
from studio.reasoning.store import RunStore
from studio.markup import path_free
from studio.ui.access import is_admin
from studio.ui.context import TabSpec, UIContext
from studio.ui.reason_view import backends_help, chat_messages, status_markdown

log = logging.getLogger(__name__)
NO_REASONER = "(none: render the rationale below)"


def _choices(studio, cap: Capability) -> list[tuple[str, str]]:
    return [(f"{e.label} ({e.name})" if e.label != e.name else e.name, e.name) for e in studio.backends.by_capability(cap)]


def _image_choices(studio) -> list[tuple[str, str]]:
    seen, out = set(), []
    for cap in (Capability.TEXT_TO_IMAGE, Capability.EDIT):
        for label, name in _choices(studio, cap):
            if name not in seen:
                seen.add(name)
                out.append((label, name))
    return out


def _example_choices(studio) -> list[tuple[str, str]]:
    """Worked examples; one that needs a model the studio lacks says so in its name, before it is loaded."""
    critic = bool(studio.backends.by_capability(Capability.VISION_LANGUAGE))
    return [(e.label if e.mode != "correction" or critic
             else f"{e.label} — needs a vision-language critic (none configured)", e.id) for e in load_examples()]


def _has_reasoner(studio) -> bool:
    return bool(studio.backends.by_capability(Capability.CHAT))


def _run_choices(studio) -> list[tuple[str, str]]:
    return [(r.label, r.id) for r in RunStore(studio).recent(100)]


def build(ctx: UIContext) -> None:
    studio = ctx.studio
    # stored images are shown in the stream as files; example inputs are loaded from the assets
    gr.set_static_paths([studio.settings.images_dir, EXAMPLES_DIR / "images"])
    c: dict = {}
    gr.Markdown(
        "Ask a question; a text reasoner writes a rationale in which pictures appear as `[image: description]` "
        "(at most 2–3, as in UnifiedVisual), the image backend renders every part at the same time and each "
        "appears as soon as it is ready, followed by the final answer. Without a reasoner, write or paste a "
        "rationale (or load an example) and render it."
    )
    c["help"] = gr.Markdown(backends_help(studio.backends), elem_id="reason-backends")
    chat = _choices(studio, Capability.CHAT)
    critics = _choices(studio, Capability.VISION_LANGUAGE)
    images = _image_choices(studio)
    with gr.Row():
        c["mode"] = gr.Dropdown([(m.title, m.id) for m in MODES.values()], value="implicit", label="Mode",
                                elem_id="reason-mode")
        c["reasoner"] = gr.Dropdown(chat + [(NO_REASONER, "")], value=chat[0][1] if chat else "",
                                    label="Reasoner (chat backend)", elem_id="reason-reasoner")
        c["image_backend"] = gr.Dropdown(images, value=images[0][1] if images else None,
                                         label="Image backend", elem_id="reason-image-backend")
        c["critic"] = gr.Dropdown(critics, value=critics[0][1] if critics else None,
                                  label="Critic (vision-language, for image correction)", elem_id="reason-critic")
    c["mode_hint"] = gr.Markdown(f"*{MODES['implicit'].hint}*")
    ctx.follow_backends(c["help"], lambda: gr.update(value=backends_help(studio.backends)))
    ctx.follow_backends(c["reasoner"], lambda: gr.update(
        choices=_choices(studio, Capability.CHAT) + [(NO_REASONER, "")]))
    ctx.follow_backends(c["image_backend"], lambda: gr.update(choices=_image_choices(studio)))
    ctx.follow_backends(c["critic"], lambda: gr.update(choices=_choices(studio, Capability.VISION_LANGUAGE)))
    gr.Markdown(" ".join(f"Not offered: {why}" for why in NOT_OFFERED.values()))
    with gr.Row():
        c["max_images"] = gr.Slider(1, MAX_IMAGES_LIMIT, value=DEFAULT_MAX_IMAGES, step=1,
                                    label="At most N image parts (modes 2–4; studio default 3, capped at the paper's 3 for mode 2 and 2 for mode 3)")
        c["rounds"] = gr.Slider(1, MAX_ROUNDS_LIMIT, value=DEFAULT_MAX_ROUNDS, step=1,
                                label="Correction rounds (mode 5; studio default 3: the paper critiques and regenerates once)")
        c["seed"] = gr.Number(0, precision=0, label="Seed")
    with gr.Row():
        with gr.Column(scale=3):
            c["question"] = gr.Textbox(lines=3, label="Question or request", elem_id="reason-question",
                                       placeholder="e.g. Draw an animal that is said to have nine lives.")
        with gr.Column(scale=2):
            c["image"] = gr.Image(type="filepath", label="Input image (modes 3, 4, 6)", height=200,
                                  elem_id="reason-image")
    with gr.Accordion("Rationale: write, paste, or load an example", open=False):
        with gr.Row():
            c["example"] = gr.Dropdown(_example_choices(studio), label="Worked example (studio wording, modelled on a paper example)",
                                       elem_id="reason-example")
            c["load"] = gr.Button("Load example", elem_id="reason-load")
            ctx.follow_backends(c["example"], lambda: gr.update(choices=_example_choices(studio)))
        c["rationale"] = gr.Textbox(lines=8, label="Rationale with [image: …] parts (or [crop: x1, y1, x2, y2] in mode 4)",
                                    elem_id="reason-rationale")
    with gr.Row():
        # the primary button is the one that can work with the configured backends
        reasoner = _has_reasoner(studio)
        c["ask"] = gr.Button("Ask the reasoner", variant="primary" if reasoner else "secondary", elem_id="reason-ask")
        c["render"] = gr.Button("Render this rationale", variant="secondary" if reasoner else "primary",
                                elem_id="reason-render")
        ctx.follow_backends(c["ask"], lambda: gr.update(variant="primary" if _has_reasoner(studio) else "secondary"))
        ctx.follow_backends(c["render"], lambda: gr.update(variant="secondary" if _has_reasoner(studio) else "primary"))
        c["stop"] = gr.Button("Stop", variant="stop", elem_id="reason-stop")
    c["stream"] = gr.Chatbot(label="Interleaved answer", height=620, elem_id="reason-stream")
    c["status"] = gr.Markdown(elem_id="reason-status")
    with gr.Accordion("Runs: export as a sample, compare in annotation", open=False):
        runs = _run_choices(studio)
        with gr.Row():
            c["run"] = gr.Dropdown(runs, label="Run", elem_id="reason-run")
            c["dataset"] = gr.Textbox("default", label="Dataset")
            c["export"] = gr.Button("Export as sample", elem_id="reason-export")
        with gr.Row():
            c["run_a"] = gr.Dropdown(runs, label="Run A")
            c["run_b"] = gr.Dropdown(runs, label="Run B")
            c["batch"] = gr.Textbox("reasoning", label="Annotation batch")
            c["send"] = gr.Button("Send A vs B to annotation", elem_id="reason-send")
        c["refresh"] = gr.Button("Refresh runs", size="sm")
        c["runs_status"] = gr.Markdown(elem_id="reason-runs-status")
    ctx.register("reason.components", c)
    ctx.register("reason.stream", c["stream"])


def _load_input(studio, path: str | None):
    if not path:
        return None, None
    s = studio.settings
    img = load_image(path, max_bytes=s.max_upload_bytes, max_pixels=s.max_image_pixels)
    return fit_within(img, s.max_working_side)


def wire(ctx: UIContext, ui: Any = None) -> None:
    studio = ctx.studio
    c = ctx.get("reason.components")
    runner = ReasoningRunner(studio)
    store = RunStore(studio)

    def runs_update():
        choices = _run_choices(studio)
        return gr.update(choices=choices), gr.update(choices=choices), gr.update(choices=choices)

    stops: dict[str, threading.Event] = {}  # the running run's stop request, per browser session

    def run(use_reasoner: bool, mode, reasoner, image_backend, critic, max_images, rounds, seed,
            question, image_path, rationale, request: gr.Request | None):
        keep = gr.update()
        admin = is_admin(studio, request)
        session = getattr(request, "session_hash", None) or "api"
        stop = stops[session] = threading.Event()
        try:
            image, notice = _load_input(studio, image_path)
            if notice:
                gr.Info(notice)
            request = RunRequest(
                mode=mode, question=question or "", input_image=image,
                reasoner=(reasoner or None) if use_reasoner else None,
                image_backend=image_backend or None, critic=critic or None,
                rationale=None if use_reasoner else (rationale or ""),
                max_images=int(max_images), max_rounds=int(rounds), seed=int(seed or 0), stop=stop,
            )
            if not use_reasoner and mode != "correction" and not (rationale or "").strip():
                raise ReasoningInputError("the rationale box is empty: write or paste a rationale, or load an example")
            states = runner.run(request)
            state = next(states)  # validation happens here, before anything is stored
        except (ReasoningInputError, ImageLoadError, ValueError) as exc:
            gr.Warning(path_free(exc))
            yield keep, f"⚠️ {exc}", keep, keep, keep
            return
        yield chat_messages(studio, state), status_markdown(state), keep, keep, keep
        try:
            for state in states:
                yield chat_messages(studio, state), status_markdown(state), keep, keep, keep
        finally:
            if stops.get(session) is stop:
                del stops[session]
        if state.status in ("failed", "refused", "not-converged", "partial"):
            gr.Warning(status_markdown(state).splitlines()[0].strip("*"))
        if not admin:  # the run lists (everyone's runs, for export and comparison) are for admins
            yield chat_messages(studio, state), status_markdown(state), keep, keep, keep
            return
        choices = _run_choices(studio)
        yield (chat_messages(studio, state), status_markdown(state),
               gr.update(choices=choices, value=state.run_id), gr.update(choices=choices), gr.update(choices=choices))

    inputs = [c[k] for k in ("mode", "reasoner", "image_backend", "critic", "max_images", "rounds", "seed",
                             "question", "image", "rationale")]
    outputs = [c["stream"], c["status"], c["run"], c["run_a"], c["run_b"]]

    def ask(mode, reasoner, image_backend, critic, max_images, rounds, seed, question, image, rationale,
            request: gr.Request = None):
        yield from run(True, mode, reasoner, image_backend, critic, max_images, rounds, seed, question, image,
                       rationale, request)

    def render(mode, reasoner, image_backend, critic, max_images, rounds, seed, question, image, rationale,
               request: gr.Request = None):
        yield from run(False, mode, reasoner, image_backend, critic, max_images, rounds, seed, question, image,
                       rationale, request)

    def on_stop(request: gr.Request = None):
        stop = stops.get(getattr(request, "session_hash", None) or "api")
        if stop is None:
            gr.Info("nothing is running")
        else:
            stop.set()
            gr.Info("stopping: parts not finished yet are kept as stopped")

    c["ask"].click(ctx.guard("reason_run", ask), inputs, outputs, api_name="reason_ask")
    c["render"].click(ctx.guard("reason_run", render), inputs, outputs, api_name="reason_render")
    # Stop asks the running run to give up waiting; it then stores what it has and shows the outcome
    c["stop"].click(ctx.guard("own_work", on_stop), None, None, api_name="reason_stop")

    def on_mode(mode):
        return f"*{MODES[mode].hint}*" if mode in MODES else ""

    c["mode"].change(ctx.guard("browse", on_mode), [c["mode"]], [c["mode_hint"]], api_name=False)

    def on_load(example_id):
        if not example_id:
            gr.Warning("pick an example first")
            return gr.update(), gr.update(), gr.update(), gr.update(), "⚠️ pick an example first"
        ex = get_example(example_id)
        path = ex.image_path()
        note = f"Loaded **{ex.id}** ({ex.source})."
        if ex.mode == "correction" and not studio.backends.by_capability(Capability.VISION_LANGUAGE):
            note += (" It cannot run here: image correction needs a vision-language critic and none is configured "
                     "(add an `openai-chat` or `transformers-chat` backend with vision to the backends config, then "
                     "*Reload the backends config* in the Backends panel).")
        elif ex.mode == "correction":
            note += " Image correction needs a vision-language critic: pick one and press *Ask the reasoner*."
        elif not _has_reasoner(studio):
            note += " Press *Render this rationale* to render it (no reasoner is configured to ask)."
        else:
            note += " Press *Render this rationale* to render it without a reasoner, or *Ask the reasoner*."
        return ex.mode, ex.question, str(path) if path else None, ex.rationale, note

    c["load"].click(ctx.guard("browse", on_load), [c["example"]], [c["mode"], c["question"], c["image"], c["rationale"], c["status"]],
                    api_name="reason_load_example")

    def on_export(run_id, dataset):
        if not run_id:
            gr.Warning("pick a run to export")
            return "⚠️ pick a run to export"
        try:
            sample_id, created = store.export_sample(run_id, dataset)
        except ReasoningInputError as exc:
            gr.Warning(path_free(exc))
            return f"⚠️ {exc}"
        return (f"✅ exported as sample `{sample_id}`" if created
                else f"this run was already exported as sample `{sample_id}`")

    c["export"].click(ctx.guard("datasets", on_export), [c["run"], c["dataset"]], [c["runs_status"]], api_name="reason_export")

    def on_send(run_a, run_b, batch):
        if not run_a or not run_b:
            gr.Warning("pick run A and run B")
            return "⚠️ pick run A and run B"
        try:
            item = store.send_to_annotation(run_a, run_b, batch)
        except ReasoningInputError as exc:
            gr.Warning(path_free(exc))
            return f"⚠️ {exc}"
        return f"✅ added to annotation batch **{batch or 'reasoning'}** (item `{item[:8]}`)"

    c["send"].click(ctx.guard("datasets", on_send), [c["run_a"], c["run_b"], c["batch"]], [c["runs_status"]], api_name="reason_send")
    c["refresh"].click(ctx.guard("datasets", runs_update), None, [c["run"], c["run_a"], c["run_b"]], api_name=False)


TAB = TabSpec(id="reason", title="Reason", order=50, build=build, wire=wire)
