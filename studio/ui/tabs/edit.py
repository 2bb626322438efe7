"""Edit chat tab: edit an image turn by turn, undo, branch, and keep the session as data.

The layout is built here; the handlers are :class:`studio.ui.controllers.edit.EditController`'s methods
and every decision lives in :mod:`studio.editing`. The session id travels in the page URL
(``?session=…``) so a reload or a server restart brings the same session back.
"""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from backends.runtime import gpu_handler
from studio import editing
from studio.editing.chat import ATTACH_MASK, ATTACH_REFERENCES, EDIT_FIELDS
from studio.editing.runner import DEFAULT_TIMEOUT_S
from studio.ui import edit_render as render
from studio.ui.context import TabSpec, UIContext
from studio.ui.controllers.edit import EditController

SET_URL_JS = """(sid) => { const u = new URL(window.location.href);
  if (sid) { u.searchParams.set('session', sid); } else { u.searchParams.delete('session'); }
  window.history.replaceState(null, '', u.toString()); return sid; }"""

#: the open-mode name is remembered by the browser, so a reload finds the same user's sessions
LOAD_OWNER_JS = "(o, backend, t2i) => [window.localStorage.getItem('studio-edit-owner') || '', backend, t2i]"
SAVE_OWNER_JS = "(o) => { if (o) { window.localStorage.setItem('studio-edit-owner', o); } return o; }"


@dataclass
class EditUI:
    owner: gr.Textbox
    sessions: gr.Dropdown
    refresh: gr.Button
    delete: gr.Button
    upload: gr.File
    start_upload: gr.Button
    prompt: gr.Textbox
    t2i: gr.Dropdown
    gen_seed: gr.Number
    gen_width: gr.Number
    gen_height: gr.Number
    gen_steps: gr.Number
    gen_guidance: gr.Number
    start_prompt: gr.Button
    sample: gr.Dropdown
    refresh_samples: gr.Button
    start_sample: gr.Button
    session_id: gr.Textbox
    head: gr.Textbox
    tree: gr.Markdown
    turn: gr.Dropdown
    undo: gr.Button
    branch: gr.Button
    retry: gr.Button
    form: gr.Radio
    dataset: gr.Textbox
    export: gr.Button
    compare: gr.Dropdown
    batch: gr.Textbox
    to_annotation: gr.Button
    chat: gr.Chatbot
    message: gr.MultimodalTextbox
    attach_as: gr.Radio
    status: gr.Markdown
    backend: gr.Dropdown
    seed: gr.Number
    steps: gr.Number
    guidance_scale: gr.Number
    image_guidance_scale: gr.Number
    strength: gr.Number
    timeout: gr.Number
    use_mask: gr.Checkbox
    editor: gr.ImageEditor
    slider: gr.ImageSlider

    def rendered(self) -> list:
        """The components every session handler refreshes, in the order of ``edit_render.RENDER_KEYS``."""
        return [getattr(self, key) for key in render.RENDER_KEYS]

    def params(self) -> list:
        """The edit parameter fields, in the order of ``studio.editing.chat.EDIT_FIELDS``."""
        return [getattr(self, key) for key in EDIT_FIELDS]

    def start_fields(self) -> list:
        """Size, steps and guidance of the image generated to start from."""
        return [self.gen_width, self.gen_height, self.gen_steps, self.gen_guidance]


def build(ctx: UIContext) -> EditUI:
    studio = ctx.studio
    edit_choices = editing.edit_backends(studio)
    t2i_choices = editing.runner.generate_backends(studio)
    names = [n for _, n in edit_choices]
    default_backend = "procedural" if "procedural" in names else (names[0] if names else None)
    gr.Markdown(
        "Edit an image by chatting: each message is an instruction, each answer the edited image. "
        "Undo, branch from any turn, and export the session as a multi-turn editing sample."
    )
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            open_mode = studio.settings.auth_mode == "open"
            owner = gr.Textbox(label="Your name" if open_mode else "Signed in as", elem_id="edit-owner",
                               interactive=open_mode,
                               info="Your sessions belong to this name." if open_mode else None)
            sessions = gr.Dropdown([], label="Your sessions", elem_id="edit-sessions", interactive=True,
                                   allow_custom_value=True)
            with gr.Row():
                refresh = gr.Button("Refresh list", size="sm")
                delete = gr.Button("Delete session", size="sm", variant="stop", elem_id="edit-delete")
            with gr.Accordion("Start a new session", open=True):
                with gr.Tab("Upload"):
                    upload = gr.File(label="Image", file_types=["image"], type="filepath", elem_id="edit-upload")
                    start_upload = gr.Button("Start from this image", elem_id="edit-start-upload")
                with gr.Tab("From a prompt"):
                    prompt = gr.Textbox(label="Prompt", lines=2)
                    t2i = gr.Dropdown(t2i_choices, label="Text-to-image backend",
                                      value=t2i_choices[0][1] if t2i_choices else None, elem_id="edit-t2i")
                    ctx.follow_backends(t2i, lambda: gr.update(choices=editing.runner.generate_backends(studio)))
                    with gr.Row():
                        gen_seed = gr.Number(0, label="Seed", precision=0, min_width=80)
                        gen_width = gr.Number(None, label="Width (px)", precision=0, minimum=1, min_width=80,
                                              elem_id="edit-gen-width")
                        gen_height = gr.Number(None, label="Height (px)", precision=0, minimum=1, min_width=80,
                                               elem_id="edit-gen-height")
                    with gr.Row():
                        gen_steps = gr.Number(None, label="Steps (empty: the backend's own)", precision=0,
                                              minimum=1, elem_id="edit-gen-steps")
                        gen_guidance = gr.Number(None, label="Guidance scale (empty: the backend's own)",
                                                 minimum=0, elem_id="edit-gen-guidance")
                    start_prompt = gr.Button("Generate and start")
                with gr.Tab("From a sample"):
                    sample = gr.Dropdown([], label="Sample", allow_custom_value=True)
                    with gr.Row():
                        refresh_samples = gr.Button("Refresh", size="sm")
                        start_sample = gr.Button("Start from sample", size="sm")
            session_id = gr.Textbox(label="Session id (also in the page link)", elem_id="edit-session-id",
                                    interactive=False)
            head = gr.Textbox(visible=False, elem_id="edit-head")
            tree = gr.Markdown(render.tree_markdown(None), elem_id="edit-tree")
            turn = gr.Dropdown([], label="Turn", elem_id="edit-turn", interactive=True, allow_custom_value=True)
            with gr.Row():
                undo = gr.Button("Undo last turn", size="sm", elem_id="edit-undo")
                branch = gr.Button("Continue from this turn", size="sm", elem_id="edit-branch")
                retry = gr.Button("Retry failed turn", size="sm", elem_id="edit-retry")
            with gr.Accordion("Keep as data", open=False):
                form = gr.Radio(["multi-turn", "triplets"], value="multi-turn", label="Export as")
                dataset = gr.Textbox("default", label="Dataset")
                export = gr.Button("Export the branch ending at the picked turn", size="sm")
                compare = gr.Dropdown([], label="Compare the picked turn with", allow_custom_value=True)
                batch = gr.Textbox("edit-chat", label="Annotation batch")
                to_annotation = gr.Button("Send pair to annotation", size="sm")
        with gr.Column(scale=2):
            chat = gr.Chatbot(label="Edit chat", elem_id="edit-chat", height=560)
            message = gr.MultimodalTextbox(
                placeholder="Describe the edit… (attach images: the source if no session is open, else "
                            "reference images or a mask)", file_count="multiple", file_types=["image"],
                elem_id="edit-message", show_label=False)
            attach_as = gr.Radio([ATTACH_REFERENCES, ATTACH_MASK], value=ATTACH_REFERENCES,
                                 label="Attached images are", elem_id="edit-attach-as")
            status = gr.Markdown(elem_id="edit-status")
            with gr.Accordion("Backend and parameters", open=False):
                backend = gr.Dropdown(edit_choices, value=default_backend, label="Edit backend",
                                      elem_id="edit-backend")
                ctx.follow_backends(backend, lambda: gr.update(choices=editing.edit_backends(studio)))
                with gr.Row():
                    seed = gr.Number(None, label="Seed", precision=0)
                    steps = gr.Number(None, label="Steps", precision=0)
                    guidance_scale = gr.Number(None, label="Guidance scale")
                with gr.Row():
                    image_guidance_scale = gr.Number(None, label="Image guidance scale")
                    strength = gr.Number(None, label="Strength (0–1)")
                    timeout = gr.Number(DEFAULT_TIMEOUT_S, label="Time limit (s)")
            with gr.Accordion("Mask (for inpainting backends)", open=False):
                use_mask = gr.Checkbox(False, label="Use the mask painted below on the next turn")
                editor = gr.ImageEditor(type="pil", label="Paint the region to change", elem_id="edit-mask-editor")
            slider = gr.ImageSlider(label="Before / after", type="filepath", elem_id="edit-slider", max_height=360)
    ctx.register("edit.chat", chat)
    return EditUI(
        owner=owner, sessions=sessions, refresh=refresh, delete=delete, upload=upload, start_upload=start_upload,
        prompt=prompt, t2i=t2i, gen_seed=gen_seed, gen_width=gen_width, gen_height=gen_height,
        gen_steps=gen_steps, gen_guidance=gen_guidance, start_prompt=start_prompt, sample=sample,
        refresh_samples=refresh_samples, start_sample=start_sample, session_id=session_id, head=head, tree=tree,
        turn=turn, undo=undo, branch=branch, retry=retry, form=form, dataset=dataset, export=export,
        compare=compare, batch=batch, to_annotation=to_annotation, chat=chat, message=message,
        attach_as=attach_as, status=status, backend=backend, seed=seed, steps=steps,
        guidance_scale=guidance_scale, image_guidance_scale=image_guidance_scale, strength=strength,
        timeout=timeout, use_mask=use_mask, editor=editor, slider=slider,
    )


def wire(ctx: UIContext, ui: EditUI) -> None:
    ctrl = EditController(ctx.studio)
    out = ui.rendered()
    out_list = out + [ui.sessions]
    who, sid = [ui.owner], [ui.owner, ui.session_id]

    # -- starting and opening ------------------------------------------------------------------
    ui.start_upload.click(ctx.guard("own_work", ctrl.start_from_upload), who + [ui.upload], out_list,
                          api_name="edit_start_upload")
    ui.start_prompt.click(ctx.guard("own_work", gpu_handler()(ctrl.start_from_prompt)),
                          who + [ui.prompt, ui.t2i, ui.gen_seed] + ui.start_fields(), out_list,
                          api_name="edit_start_prompt")
    ui.start_sample.click(ctx.guard("own_work", ctrl.start_from_sample), who + [ui.sample], out_list,
                          api_name="edit_start_sample")
    ui.sessions.input(ctx.guard("own_work", ctrl.open), who + [ui.sessions], out, api_name="edit_open")
    ui.delete.click(ctx.guard("own_work", ctrl.delete), sid, out_list, api_name="edit_delete")
    ui.refresh.click(ctx.guard("own_work", ctrl.list_sessions), sid, [ui.sessions], api_name="edit_list")
    ui.refresh_samples.click(ctx.guard("own_work", ctrl.list_samples), None, [ui.sample], api_name=False)
    ui.session_id.change(None, [ui.session_id], None, js=SET_URL_JS)

    # -- turns ----------------------------------------------------------------------------------
    send_inputs = sid + [ui.head, ui.message, ui.attach_as, ui.editor, ui.use_mask, ui.backend] + ui.params() \
        + [ui.timeout]
    ui.message.submit(ctx.guard("edit_turn", gpu_handler()(ctrl.send)), send_inputs, out + [ui.message, ui.sessions],
                      api_name="edit_send")
    ui.undo.click(ctx.guard("own_work", ctrl.undo), sid + [ui.head], out, api_name="edit_undo")
    ui.branch.click(ctx.guard("own_work", ctrl.branch), sid + [ui.turn], out, api_name="edit_branch")
    ui.retry.click(ctx.guard("edit_turn", gpu_handler()(ctrl.retry)), sid + [ui.turn, ui.backend, ui.timeout], out,
                   api_name="edit_retry")
    ui.turn.input(ctx.guard("own_work", ctrl.pick), sid + [ui.turn], [ui.compare, ui.slider], api_name=False)
    ui.export.click(ctx.guard("datasets", ctrl.export), sid + [ui.turn, ui.form, ui.dataset], out,
                    api_name="edit_export")
    ui.to_annotation.click(ctx.guard("datasets", ctrl.send_to_annotation), sid + [ui.turn, ui.compare, ui.batch],
                           out, api_name="edit_to_annotation")

    # -- each backend's own defaults, identity and the session in the link ------------------------
    ui.backend.change(ctx.guard("browse", ctrl.edit_defaults), [ui.backend], ui.params(),
                      api_name="edit_backend_defaults")
    ui.t2i.change(ctx.guard("browse", ctrl.start_defaults), [ui.t2i], ui.start_fields(),
                  api_name="edit_start_defaults")
    demo = ctx.demo
    loaded = demo.load(ctx.guard("open_page", ctrl.load), [ui.owner, ui.backend, ui.t2i],
                       [ui.owner, ui.sessions] + out + ui.params() + [ui.sample] + ui.start_fields(),
                       js=LOAD_OWNER_JS, api_name=False)
    loaded.then(None, [ui.owner], None, js=SAVE_OWNER_JS)
    ui.owner.blur(None, [ui.owner], None, js=SAVE_OWNER_JS)


TAB = TabSpec(id="edit", title="Edit chat", order=40, build=build, wire=wire)
