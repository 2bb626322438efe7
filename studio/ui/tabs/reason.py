"""Reason tab: a reasoner writes a rationale with [image: …] parts, image backends render them as they
are ready, and each run is kept, exported as a UnifiedVisual-style sample or sent to annotation.

The layout is built here; the handlers are :class:`studio.ui.controllers.reason.ReasonController`'s methods.
"""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from backends.base import Capability
from studio.reasoning.modes import (DEFAULT_MAX_IMAGES, DEFAULT_MAX_ROUNDS, MAX_IMAGES_LIMIT, MAX_ROUNDS_LIMIT, MODES,
                                    NOT_OFFERED)
from studio.ui.context import TabSpec, UIContext
from studio.ui.controllers.reason import (NO_REASONER, ReasonController, backend_choices, example_choices,
                                          has_reasoner, image_choices, run_choices)
from studio.ui.reason_view import backends_help


@dataclass
class ReasonUI:
    help: gr.Markdown
    mode: gr.Dropdown
    reasoner: gr.Dropdown
    image_backend: gr.Dropdown
    critic: gr.Dropdown
    mode_hint: gr.Markdown
    max_images: gr.Slider
    rounds: gr.Slider
    seed: gr.Number
    question: gr.Textbox
    image: gr.Image
    example: gr.Dropdown
    load: gr.Button
    rationale: gr.Textbox
    ask: gr.Button
    render: gr.Button
    stop: gr.Button
    stream: gr.Chatbot
    status: gr.Markdown
    run: gr.Dropdown
    dataset: gr.Textbox
    export: gr.Button
    run_a: gr.Dropdown
    run_b: gr.Dropdown
    batch: gr.Textbox
    send: gr.Button
    refresh: gr.Button
    runs_status: gr.Markdown

    def run_form(self) -> list:
        """What a run is made of, in the order of the controller's ``ask``/``render`` parameters."""
        return [self.mode, self.reasoner, self.image_backend, self.critic, self.max_images, self.rounds, self.seed,
                self.question, self.image, self.rationale]


def build(ctx: UIContext) -> ReasonUI:
    studio = ctx.studio
    gr.Markdown(
        "Ask a question; a text reasoner writes a rationale in which pictures appear as `[image: description]` "
        "(at most 2–3, as in UnifiedVisual), the image backend renders every part at the same time and each "
        "appears as soon as it is ready, followed by the final answer. Without a reasoner, write or paste a "
        "rationale (or load an example) and render it."
    )
    help_ = gr.Markdown(backends_help(studio.backends), elem_id="reason-backends")
    chat = backend_choices(studio, Capability.CHAT)
    critics = backend_choices(studio, Capability.VISION_LANGUAGE)
    images = image_choices(studio)
    with gr.Row():
        mode = gr.Dropdown([(m.title, m.id) for m in MODES.values()], value="implicit", label="Mode",
                           elem_id="reason-mode")
        reasoner = gr.Dropdown(chat + [(NO_REASONER, "")], value=chat[0][1] if chat else "",
                               label="Reasoner (chat backend)", elem_id="reason-reasoner")
        image_backend = gr.Dropdown(images, value=images[0][1] if images else None, label="Image backend",
                                    elem_id="reason-image-backend")
        critic = gr.Dropdown(critics, value=critics[0][1] if critics else None,
                             label="Critic (vision-language, for image correction)", elem_id="reason-critic")
    mode_hint = gr.Markdown(f"*{MODES['implicit'].hint}*")
    ctx.follow_backends(help_, lambda: gr.update(value=backends_help(studio.backends)))
    ctx.follow_backends(reasoner, lambda: gr.update(
        choices=backend_choices(studio, Capability.CHAT) + [(NO_REASONER, "")]))
    ctx.follow_backends(image_backend, lambda: gr.update(choices=image_choices(studio)))
    ctx.follow_backends(critic, lambda: gr.update(choices=backend_choices(studio, Capability.VISION_LANGUAGE)))
    gr.Markdown(" ".join(f"Not offered: {why}" for why in NOT_OFFERED.values()))
    with gr.Row():
        max_images = gr.Slider(1, MAX_IMAGES_LIMIT, value=DEFAULT_MAX_IMAGES, step=1,
                               label="At most N image parts (modes 2–4; studio default 3, capped at the paper's 3 for mode 2 and 2 for mode 3)")
        rounds = gr.Slider(1, MAX_ROUNDS_LIMIT, value=DEFAULT_MAX_ROUNDS, step=1,
                           label="Correction rounds (mode 5; studio default 3: the paper critiques and regenerates once)")
        seed = gr.Number(0, precision=0, label="Seed")
    with gr.Row():
        with gr.Column(scale=3):
            question = gr.Textbox(lines=3, label="Question or request", elem_id="reason-question",
                                  placeholder="e.g. Draw an animal that is said to have nine lives.")
        with gr.Column(scale=2):
            image = gr.Image(type="filepath", label="Input image (modes 3, 4, 6)", height=200, elem_id="reason-image")
    with gr.Accordion("Rationale: write, paste, or load an example", open=False):
        with gr.Row():
            example = gr.Dropdown(example_choices(studio),
                                  label="Worked example (studio wording, modelled on a paper example)",
                                  elem_id="reason-example")
            load = gr.Button("Load example", elem_id="reason-load")
            ctx.follow_backends(example, lambda: gr.update(choices=example_choices(studio)))
        rationale = gr.Textbox(lines=8, label="Rationale with [image: …] parts (or [crop: x1, y1, x2, y2] in mode 4)",
                               elem_id="reason-rationale")
    with gr.Row():
        # the primary button is the one that can work with the configured backends
        configured = has_reasoner(studio)
        ask = gr.Button("Ask the reasoner", variant="primary" if configured else "secondary", elem_id="reason-ask")
        render = gr.Button("Render this rationale", variant="secondary" if configured else "primary",
                           elem_id="reason-render")
        ctx.follow_backends(ask, lambda: gr.update(variant="primary" if has_reasoner(studio) else "secondary"))
        ctx.follow_backends(render, lambda: gr.update(variant="secondary" if has_reasoner(studio) else "primary"))
        stop = gr.Button("Stop", variant="stop", elem_id="reason-stop")
    stream = gr.Chatbot(label="Interleaved answer", height=620, elem_id="reason-stream")
    status = gr.Markdown(elem_id="reason-status")
    with gr.Accordion("Runs: export as a sample, compare in annotation", open=False):
        runs = run_choices(studio)
        with gr.Row():
            run = gr.Dropdown(runs, label="Run", elem_id="reason-run")
            dataset = gr.Textbox("default", label="Dataset")
            export = gr.Button("Export as sample", elem_id="reason-export")
        with gr.Row():
            run_a = gr.Dropdown(runs, label="Run A")
            run_b = gr.Dropdown(runs, label="Run B")
            batch = gr.Textbox("reasoning", label="Annotation batch")
            send = gr.Button("Send A vs B to annotation", elem_id="reason-send")
        refresh = gr.Button("Refresh runs", size="sm")
        runs_status = gr.Markdown(elem_id="reason-runs-status")
    ctx.register("reason.stream", stream)
    return ReasonUI(
        help=help_, mode=mode, reasoner=reasoner, image_backend=image_backend, critic=critic, mode_hint=mode_hint,
        max_images=max_images, rounds=rounds, seed=seed, question=question, image=image, example=example, load=load,
        rationale=rationale, ask=ask, render=render, stop=stop, stream=stream, status=status, run=run,
        dataset=dataset, export=export, run_a=run_a, run_b=run_b, batch=batch, send=send, refresh=refresh,
        runs_status=runs_status,
    )


def wire(ctx: UIContext, ui: ReasonUI) -> None:
    ctrl = ReasonController(ctx.studio)
    outputs = [ui.stream, ui.status, ui.run, ui.run_a, ui.run_b]
    ui.ask.click(ctx.guard("reason_run", ctrl.ask), ui.run_form(), outputs, api_name="reason_ask")
    ui.render.click(ctx.guard("reason_run", ctrl.render), ui.run_form(), outputs, api_name="reason_render")
    ui.stop.click(ctx.guard("own_work", ctrl.stop), None, None, api_name="reason_stop")
    ui.mode.change(ctx.guard("browse", ctrl.describe_mode), [ui.mode], [ui.mode_hint], api_name=False)
    ui.load.click(ctx.guard("browse", ctrl.load_example), [ui.example],
                  [ui.mode, ui.question, ui.image, ui.rationale, ui.status], api_name="reason_load_example")
    ui.export.click(ctx.guard("datasets", ctrl.export), [ui.run, ui.dataset], [ui.runs_status], api_name="reason_export")
    ui.send.click(ctx.guard("datasets", ctrl.send_to_annotation), [ui.run_a, ui.run_b, ui.batch], [ui.runs_status],
                  api_name="reason_send")
    ui.refresh.click(ctx.guard("datasets", ctrl.refresh_runs), None, [ui.run, ui.run_a, ui.run_b], api_name=False)


TAB = TabSpec(id="reason", title="Reason", order=50, build=build, wire=wire)
