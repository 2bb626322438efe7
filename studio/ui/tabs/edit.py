"""Edit chat tab: edit an image turn by turn, undo, branch, and keep the session as data.

Handlers are thin: every decision lives in :mod:`studio.editing`. The session id travels in the
page URL (``?session=…``) so a reload or a server restart brings the same session back.
"""
from __future__ import annotations

import functools
import logging
import uuid
from typing import Any

import gradio as gr
from PIL import Image

from backends.base import BackendError
from backends.runtime import gpu_handler
from studio import editing
from studio.editing.runner import DEFAULT_TIMEOUT_S, supports_mask
from studio.images import ImageLoadError, load_image
from studio.markup import path_free
from studio.ui import edit_render as render
from studio.ui.context import TabSpec, UIContext

log = logging.getLogger(__name__)

USER_ERRORS = (editing.EditingError, BackendError, ImageLoadError, ValueError)
PARAMS = ("seed", "steps", "guidance_scale", "image_guidance_scale", "strength")
SET_URL_JS = """(sid) => { const u = new URL(window.location.href);
  if (sid) { u.searchParams.set('session', sid); } else { u.searchParams.delete('session'); }
  window.history.replaceState(null, '', u.toString()); return sid; }"""

#: the open-mode name is remembered by the browser, so a reload finds the same user's sessions
LOAD_OWNER_JS = "(o) => window.localStorage.getItem('studio-edit-owner') || ''"
SAVE_OWNER_JS = "(o) => { if (o) { window.localStorage.setItem('studio-edit-owner', o); } return o; }"


def _identify(settings, name: str, request: gr.Request | None) -> str:
    """Whose sessions these are: the signed-in user under password or HF auth, else the typed name."""
    from studio.auth import AuthError
    from studio.ui.access import identify

    try:
        who = identify(settings, name, request)
    except AuthError as exc:
        raise editing.EditingError(str(exc)) from None
    if who is None:
        raise editing.EditingError("sign in first" if settings.auth_mode != "open" else "enter your name first")
    return who.name


def _turn_limit(timeout) -> float:
    """The turn's time limit as asked, but never past the policy's limit for an edit turn."""
    from studio.auth import POLICY

    return min(float(timeout or DEFAULT_TIMEOUT_S), POLICY["edit_turn"].time_limit_s)


def _node(value: str | None) -> str | None:
    return None if not value or value == render.SOURCE else value


def build(ctx: UIContext) -> None:
    studio = ctx.studio
    # stored images are served in place (wherever STUDIO_DATA_DIR is), not copied per message
    gr.set_static_paths([studio.settings.images_dir])
    edit_choices = editing.edit_backends(studio)
    t2i_choices = editing.runner.generate_backends(studio)
    names = [n for _, n in edit_choices]
    default_backend = "procedural" if "procedural" in names else (names[0] if names else None)
    c: dict[str, Any] = {}
    gr.Markdown(
        "Edit an image by chatting: each message is an instruction, each answer the edited image. "
        "Undo, branch from any turn, and export the session as a multi-turn editing sample."
    )
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            open_mode = studio.settings.auth_mode == "open"
            c["owner"] = gr.Textbox(label="Your name" if open_mode else "Signed in as", elem_id="edit-owner",
                                    interactive=open_mode,
                                    info="Your sessions belong to this name." if open_mode else None)
            c["sessions"] = gr.Dropdown([], label="Your sessions", elem_id="edit-sessions", interactive=True,
                                        allow_custom_value=True)
            with gr.Row():
                c["refresh"] = gr.Button("Refresh list", size="sm")
                c["delete"] = gr.Button("Delete session", size="sm", variant="stop", elem_id="edit-delete")
            with gr.Accordion("Start a new session", open=True):
                with gr.Tab("Upload"):
                    c["upload"] = gr.File(label="Image", file_types=["image"], type="filepath",
                                          elem_id="edit-upload")
                    c["start_upload"] = gr.Button("Start from this image", elem_id="edit-start-upload")
                with gr.Tab("From a prompt"):
                    c["prompt"] = gr.Textbox(label="Prompt", lines=2)
                    c["t2i"] = gr.Dropdown(t2i_choices, label="Text-to-image backend",
                                           value=t2i_choices[0][1] if t2i_choices else None)
                    c["gen_seed"] = gr.Number(0, label="Seed", precision=0)
                    ctx.follow_backends(c["t2i"], lambda: gr.update(choices=editing.runner.generate_backends(studio)))
                    c["start_prompt"] = gr.Button("Generate and start")
                with gr.Tab("From a sample"):
                    c["sample"] = gr.Dropdown([], label="Sample", allow_custom_value=True)
                    with gr.Row():
                        c["refresh_samples"] = gr.Button("Refresh", size="sm")
                        c["start_sample"] = gr.Button("Start from sample", size="sm")
            c["session_id"] = gr.Textbox(label="Session id (also in the page link)", elem_id="edit-session-id",
                                         interactive=False)
            c["head"] = gr.Textbox(visible=False, elem_id="edit-head")
            c["tree"] = gr.Markdown(render.tree_markdown(None), elem_id="edit-tree")
            c["turn"] = gr.Dropdown([], label="Turn", elem_id="edit-turn", interactive=True,
                                    allow_custom_value=True)
            with gr.Row():
                c["undo"] = gr.Button("Undo last turn", size="sm", elem_id="edit-undo")
                c["branch"] = gr.Button("Continue from this turn", size="sm", elem_id="edit-branch")
                c["retry"] = gr.Button("Retry failed turn", size="sm", elem_id="edit-retry")
            with gr.Accordion("Keep as data", open=False):
                c["form"] = gr.Radio(["multi-turn", "triplets"], value="multi-turn", label="Export as")
                c["dataset"] = gr.Textbox("default", label="Dataset")
                c["export"] = gr.Button("Export the branch ending at the picked turn", size="sm")
                c["compare"] = gr.Dropdown([], label="Compare the picked turn with", allow_custom_value=True)
                c["batch"] = gr.Textbox("edit-chat", label="Annotation batch")
                c["to_annotation"] = gr.Button("Send pair to annotation", size="sm")
        with gr.Column(scale=2):
            c["chat"] = gr.Chatbot(label="Edit chat", elem_id="edit-chat", height=560)
            c["message"] = gr.MultimodalTextbox(
                placeholder="Describe the edit… (attach images: the source if no session is open, else "
                            "reference images or a mask)", file_count="multiple", file_types=["image"],
                elem_id="edit-message", show_label=False)
            c["attach_as"] = gr.Radio(["reference images", "mask"], value="reference images",
                                      label="Attached images are", elem_id="edit-attach-as")
            c["status"] = gr.Markdown(elem_id="edit-status")
            with gr.Accordion("Backend and parameters", open=False):
                c["backend"] = gr.Dropdown(edit_choices, value=default_backend, label="Edit backend",
                                           elem_id="edit-backend")
                ctx.follow_backends(c["backend"], lambda: gr.update(choices=editing.edit_backends(studio)))
                with gr.Row():
                    c["seed"] = gr.Number(None, label="Seed", precision=0)
                    c["steps"] = gr.Number(None, label="Steps", precision=0)
                    c["guidance_scale"] = gr.Number(None, label="Guidance scale")
                with gr.Row():
                    c["image_guidance_scale"] = gr.Number(None, label="Image guidance scale")
                    c["strength"] = gr.Number(None, label="Strength (0–1)")
                    c["timeout"] = gr.Number(DEFAULT_TIMEOUT_S, label="Time limit (s)")
            with gr.Accordion("Mask (for inpainting backends)", open=False):
                c["use_mask"] = gr.Checkbox(False, label="Use the mask painted below on the next turn")
                c["editor"] = gr.ImageEditor(type="pil", label="Paint the region to change",
                                             elem_id="edit-mask-editor")
            c["slider"] = gr.ImageSlider(label="Before / after", type="filepath", elem_id="edit-slider",
                                         max_height=360)
    ctx.register("edit.components", c)
    ctx.register("edit.chat", c["chat"])


def wire(ctx: UIContext, ui: Any = None) -> None:
    studio = ctx.studio
    c = ctx.get("edit.components")
    out = [c[k] for k in render.RENDER_KEYS]
    out_list = out + [c["sessions"]]

    def _who(name: str, request: gr.Request | None) -> str:
        return _identify(studio.settings, name, request)

    def sessions_update(owner: str, value: str | None = None):
        if not owner:
            return gr.update(choices=[], value=None)
        items = editing.list_sessions(studio, owner)
        return gr.update(choices=[(s.label, s.id) for s in items], value=value)

    def guarded(fn):
        """Turn a user error into a toast plus an inline message, leaving the outputs as they were."""

        @functools.wraps(fn)
        def run(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except USER_ERRORS as exc:
                return render.unchanged(str(exc)) + ((gr.skip(),) if fn.__name__.endswith("_list") else ())

        return run

    # -- starting and opening ------------------------------------------------------------------
    def on_start_upload_list(owner, path, request: gr.Request = None):
        if not path:
            raise editing.EditingError("choose an image file first")
        who = _who(owner, request)
        name = str(path).rsplit("/", 1)[-1]
        view, notices = editing.start_from_upload(studio, who, path, name=name)
        return render.session_values(studio, view, notices) + (sessions_update(who, view.id),)

    @gpu_handler()
    def on_start_prompt_list(owner, prompt, backend, seed, request: gr.Request = None):
        who = _who(owner, request)
        view, notices = editing.start_from_prompt(studio, who, prompt, backend or "", seed=int(seed or 0))
        return render.session_values(studio, view, notices) + (sessions_update(who, view.id),)

    def on_start_sample_list(owner, sample_id, request: gr.Request = None):
        who = _who(owner, request)
        view, notices = editing.start_from_sample(studio, who, sample_id or "")
        return render.session_values(studio, view, notices) + (sessions_update(who, view.id),)

    def on_open(owner, session_id, request: gr.Request = None):
        if not session_id:
            return render.session_values(studio, None)
        return render.session_values(studio, editing.get_session(studio, _who(owner, request), session_id))

    def on_delete_list(owner, session_id, request: gr.Request = None):
        who = _who(owner, request)
        if not session_id:
            raise editing.EditingError("no session is open")
        editing.delete_session(studio, who, session_id)
        return render.session_values(studio, None, ["session deleted"]) + (sessions_update(who),)

    c["start_upload"].click(ctx.guard("own_work", guarded(on_start_upload_list)), [c["owner"], c["upload"]], out_list,
                            api_name="edit_start_upload")
    c["start_prompt"].click(ctx.guard("own_work", guarded(on_start_prompt_list)), [c["owner"], c["prompt"], c["t2i"], c["gen_seed"]],
                            out_list, api_name="edit_start_prompt")
    c["start_sample"].click(ctx.guard("own_work", guarded(on_start_sample_list)), [c["owner"], c["sample"]], out_list,
                            api_name="edit_start_sample")
    c["sessions"].input(ctx.guard("own_work", guarded(on_open)), [c["owner"], c["sessions"]], out, api_name="edit_open")
    c["delete"].click(ctx.guard("own_work", guarded(on_delete_list)), [c["owner"], c["session_id"]], out_list, api_name="edit_delete")
    def on_refresh(owner, session_id, request: gr.Request = None):
        try:
            return sessions_update(_who(owner, request), session_id or None)
        except USER_ERRORS as exc:
            gr.Warning(path_free(exc))
            return gr.skip()

    c["refresh"].click(ctx.guard("own_work", on_refresh), [c["owner"], c["session_id"]], [c["sessions"]], api_name="edit_list")
    c["refresh_samples"].click(ctx.guard("own_work", lambda: gr.update(choices=editing.recent_samples(studio))), None, [c["sample"]],
                               api_name=False)
    c["session_id"].change(None, [c["session_id"]], None, js=SET_URL_JS)

    # -- turns ----------------------------------------------------------------------------------
    @gpu_handler()
    def on_send(owner, session_id, head, message, attach_as, editor, use_mask, backend, seed, steps,
                guidance_scale, image_guidance_scale, strength, timeout, request: gr.Request = None):
        values = (seed, steps, guidance_scale, image_guidance_scale, strength)
        who = ""
        message = message or {}
        text = (message.get("text") or "").strip()
        files = [f if isinstance(f, str) else f.get("path") for f in message.get("files") or []]
        extra_out = (gr.skip(),)
        try:
            who = _who(owner, request)
            notices: list[str] = []
            if not session_id:
                if not files:
                    raise editing.EditingError("start a session first: upload an image, or attach one here")
                view, notices = editing.start_from_upload(studio, who, files[0], name=files[0].rsplit("/", 1)[-1])
                session_id, head, files = view.id, "", files[1:]
                extra_out = (sessions_update(who, view.id),)
                if not text:
                    yield render.session_values(studio, view, notices) + ({"text": "", "files": []},) + extra_out
                    return
            if not text:
                raise editing.EditingError("write an instruction: what should change in the image?")
            limits = studio.settings
            images = [load_image(f, max_bytes=limits.max_upload_bytes, max_pixels=limits.max_image_pixels)
                      for f in files]
            mask = render.mask_from_editor(editor) if use_mask else None
            refs: list[Image.Image] = images
            if attach_as == "mask" and images:
                mask, refs = images[0].convert("L"), images[1:]
            if mask is not None and backend and not supports_mask(studio, backend):
                notices.append(f"'{backend}' is not an inpainting backend; the mask may be ignored")
            view = editing.get_session(studio, who, session_id)
            shown = _node(head) if _node(head) in view.turns else view.head
            pending = list(render.session_values(studio, view, notices, shown=shown))
            pending[2] = render.chat_messages(studio, view, pending=text, shown=shown)
            yield tuple(pending) + (gr.skip(),) + extra_out
            params = dict(zip(PARAMS, values))
            result = editing.submit_turn(
                studio, who, session_id, text, backend or "", shown=_node(head), params=params, mask=mask,
                references=refs, timeout_s=_turn_limit(timeout))
            notices += result.notices
            if result.turn.status == "failed":
                gr.Warning(f"turn #{result.turn.seq} failed: {path_free(result.turn.error)}")
            yield (render.session_values(studio, result.session, notices, shown=result.turn.id) + ({"text": "", "files": []},)
                   + (sessions_update(who, session_id),))
        except USER_ERRORS as exc:
            view = None
            if session_id and who:
                try:
                    view = editing.get_session(studio, who, session_id)
                except USER_ERRORS:
                    view = None
            gr.Warning(path_free(exc))
            if view is not None:
                keep = _node(head) if _node(head) in view.turns else view.head
                rendered = render.session_values(studio, view, [f"⚠ {exc}"], shown=keep)
            else:
                rendered = render.unchanged(str(exc))
            yield rendered + (gr.skip(),) + extra_out

    send_inputs = [c["owner"], c["session_id"], c["head"], c["message"], c["attach_as"], c["editor"],
                   c["use_mask"], c["backend"]] + [c[p] for p in PARAMS] + [c["timeout"]]
    c["message"].submit(ctx.guard("edit_turn", on_send), send_inputs, out + [c["message"], c["sessions"]], api_name="edit_send")

    def on_undo(owner, session_id, head, request: gr.Request = None):
        view = editing.undo(studio, _who(owner, request), session_id, _node(head))
        return render.session_values(studio, view, ["undone: the turn stays in the tree; pick it to redo"])

    def on_branch(owner, session_id, turn, request: gr.Request = None):
        view = editing.set_head(studio, _who(owner, request), session_id, _node(turn))
        return render.session_values(studio, view, ["the next instruction continues from here; other branches are kept"])

    @gpu_handler()
    def on_retry(owner, session_id, turn, backend, timeout, request: gr.Request = None):
        if not _node(turn):
            raise editing.EditingError("pick the failed turn to retry")
        res = editing.retry_turn(studio, _who(owner, request), session_id, _node(turn), backend=backend or None,
                                 timeout_s=_turn_limit(timeout))
        if res.turn.status == "failed":
            gr.Warning(f"turn #{res.turn.seq} failed again: {path_free(res.turn.error)}")
        return render.session_values(studio, res.session, shown=res.turn.id)

    def on_pick(owner, session_id, turn, request: gr.Request = None):
        view = editing.get_session(studio, _who(owner, request), session_id)
        r = render.session_values(studio, view, node=_node(turn))
        return (r[5], r[6])

    def on_export(owner, session_id, turn, form, dataset, request: gr.Request = None):
        who = _who(owner, request)
        ids = editing.export_branch(studio, who, session_id, tip=_node(turn), form=form, dataset=dataset)
        view = editing.get_session(studio, who, session_id)
        return render.session_values(studio, view, [f"exported {len(ids)} {form} sample(s) to dataset '{dataset}': "
                                      + ", ".join(ids)], node=_node(turn))

    def on_to_annotation(owner, session_id, turn, other, batch, request: gr.Request = None):
        who = _who(owner, request)
        item = editing.send_pair_to_annotation(studio, who, session_id, _node(turn) or "", other or "",
                                               batch=batch)
        view = editing.get_session(studio, who, session_id)
        return render.session_values(studio, view, [f"sent to annotation batch '{batch}' (item {item})"], node=_node(turn))

    ids = [c["owner"], c["session_id"]]
    c["undo"].click(ctx.guard("own_work", guarded(on_undo)), ids + [c["head"]], out, api_name="edit_undo")
    c["branch"].click(ctx.guard("own_work", guarded(on_branch)), ids + [c["turn"]], out, api_name="edit_branch")
    c["retry"].click(ctx.guard("edit_turn", guarded(on_retry)), ids + [c["turn"], c["backend"], c["timeout"]], out, api_name="edit_retry")
    c["turn"].input(ctx.guard("own_work", guarded(on_pick)), ids + [c["turn"]], [c["compare"], c["slider"]], api_name=False)
    c["export"].click(ctx.guard("datasets", guarded(on_export)), ids + [c["turn"], c["form"], c["dataset"]], out, api_name="edit_export")
    c["to_annotation"].click(ctx.guard("datasets", guarded(on_to_annotation)), ids + [c["turn"], c["compare"], c["batch"]], out,
                             api_name="edit_to_annotation")

    # -- backend defaults, identity and the session in the link -----------------------------------
    def on_backend(backend):
        defaults = editing.backend_defaults(studio, backend) if backend else {}
        return tuple(defaults.get(p) for p in PARAMS)

    c["backend"].change(ctx.guard("browse", on_backend), [c["backend"]], [c[p] for p in PARAMS], api_name=False)

    def on_load(stored: str, request: gr.Request):
        view, notices = None, []
        try:
            who = _who(stored or f"guest-{uuid.uuid4().hex[:8]}", request)
        except USER_ERRORS as exc:
            who = ""
            notices.append(str(exc))
        wanted = (request.query_params.get("session") or "") if request is not None else ""
        if wanted and who:
            try:
                view = editing.get_session(studio, who, wanted)
            except USER_ERRORS as exc:
                notices.append(f"could not open the session in the link: {exc}")
        defaults = on_backend(c["backend"].value)
        samples = gr.update(choices=editing.recent_samples(studio))
        return ((who, sessions_update(who, view.id if view else None)) + render.session_values(studio, view, notices)
                + defaults + (samples,))

    demo = gr.context.Context.root_block
    loaded = demo.load(ctx.guard("open_page", on_load), [c["owner"]],
                       [c["owner"], c["sessions"]] + out + [c[p] for p in PARAMS] + [c["sample"]],
                       js=LOAD_OWNER_JS, api_name=False)
    loaded.then(None, [c["owner"]], None, js=SAVE_OWNER_JS)
    c["owner"].blur(None, [c["owner"]], None, js=SAVE_OWNER_JS)


TAB = TabSpec(id="edit", title="Edit chat", order=40, build=build, wire=wire)
