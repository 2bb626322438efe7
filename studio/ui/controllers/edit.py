"""The Edit chat tab's handlers: component values in, one call of :mod:`studio.editing`, component values out.

Every session handler answers with the values of ``edit_render.RENDER_KEYS`` (plus the session list for
the ones that start or delete a session). A user error leaves the page as it was and says why, inline and
as a toast.
"""
from __future__ import annotations

import dataclasses
import functools
import uuid
from typing import Any, Callable

import gradio as gr

from backends.base import BackendError
from studio import editing
from studio.core import Studio
from studio.editing import chat
from studio.images import ImageLoadError
from studio.markup import path_free
from studio.ui import edit_render as render

USER_ERRORS = (editing.EditingError, BackendError, ImageLoadError, ValueError)
CLEARED_MESSAGE = {"text": "", "files": []}


def _node(value: str | None) -> str | None:
    """A turn id from a picker or the head field; the source image (or nothing) is None."""
    return None if not value or value == render.SOURCE else value


def _shows_user_errors(lists_sessions: bool = False) -> Callable:
    """A handler whose user errors leave its outputs as they were, with the reason shown; handlers that
    also answer with the session list leave that unchanged too."""

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except USER_ERRORS as exc:
                return render.unchanged(str(exc)) + ((gr.skip(),) if lists_sessions else ())

        return run

    return decorate


class EditController:
    """What a person does in the Edit chat tab, one method each."""

    def __init__(self, studio: Studio) -> None:
        self.studio = studio

    # -- who and which sessions -----------------------------------------------------------------
    def _who(self, name: str, request: gr.Request | None) -> str:
        """Whose sessions these are: the signed-in user under password or HF auth, else the typed name."""
        from studio.auth import AuthError
        from studio.ui.access import identify

        settings = self.studio.settings
        try:
            who = identify(settings, name, request)
        except AuthError as exc:
            raise editing.EditingError(str(exc)) from None
        if who is None:
            raise editing.EditingError("sign in first" if settings.auth_mode != "open" else "enter your name first")
        return who.name

    def _sessions(self, owner: str, value: str | None = None) -> Any:
        if not owner:
            return gr.update(choices=[], value=None)
        items = editing.list_sessions(self.studio, owner)
        return gr.update(choices=[(s.label, s.id) for s in items], value=value)

    def _started(self, who: str, view, notices: list[str]) -> tuple:
        return render.session_values(self.studio, view, notices) + (self._sessions(who, view.id),)

    def load(self, stored: str, backend: str | None, t2i: str | None, request: gr.Request):
        """Page load: who this is, their sessions, the session in the link, each backend's defaults."""
        view, notices = None, []
        try:
            who = self._who(stored or f"guest-{uuid.uuid4().hex[:8]}", request)
        except USER_ERRORS as exc:
            who = ""
            notices.append(str(exc))
        wanted = (request.query_params.get("session") or "") if request is not None else ""
        if wanted and who:
            try:
                view = editing.get_session(self.studio, who, wanted)
            except USER_ERRORS as exc:
                notices.append(f"could not open the session in the link: {exc}")
        samples = gr.update(choices=editing.recent_samples(self.studio))
        return ((who, self._sessions(who, view.id if view else None)) + render.session_values(self.studio, view, notices)
                + self.edit_defaults(backend) + (samples,) + self.start_defaults(t2i))

    def list_sessions(self, owner: str, session_id: str, request: gr.Request = None):
        try:
            return self._sessions(self._who(owner, request), session_id or None)
        except USER_ERRORS as exc:
            gr.Warning(path_free(exc))
            return gr.skip()

    def list_samples(self):
        return gr.update(choices=editing.recent_samples(self.studio))

    # -- starting, opening, deleting --------------------------------------------------------------
    @_shows_user_errors(lists_sessions=True)
    def start_from_upload(self, owner: str, path: str | None, request: gr.Request = None):
        if not path:
            raise editing.EditingError("choose an image file first")
        who = self._who(owner, request)
        view, notices = editing.start_from_upload(self.studio, who, path, name=str(path).rsplit("/", 1)[-1])
        return self._started(who, view, notices)

    @_shows_user_errors(lists_sessions=True)
    def start_from_prompt(self, owner: str, prompt: str, backend: str | None, seed, width, height, steps, guidance,
                          request: gr.Request = None):
        who = self._who(owner, request)
        view, notices = chat.generate_source(self.studio, who, prompt, backend or "", seed=seed, width=width,
                                             height=height, steps=steps, guidance_scale=guidance)
        return self._started(who, view, notices)

    @_shows_user_errors(lists_sessions=True)
    def start_from_sample(self, owner: str, sample_id: str | None, request: gr.Request = None):
        who = self._who(owner, request)
        view, notices = editing.start_from_sample(self.studio, who, sample_id or "")
        return self._started(who, view, notices)

    @_shows_user_errors()
    def open(self, owner: str, session_id: str | None, request: gr.Request = None):
        if not session_id:
            return render.session_values(self.studio, None)
        return render.session_values(self.studio, editing.get_session(self.studio, self._who(owner, request), session_id))

    @_shows_user_errors(lists_sessions=True)
    def delete(self, owner: str, session_id: str | None, request: gr.Request = None):
        who = self._who(owner, request)
        if not session_id:
            raise editing.EditingError("no session is open")
        editing.delete_session(self.studio, who, session_id)
        return render.session_values(self.studio, None, ["session deleted"]) + (self._sessions(who),)

    # -- turns ------------------------------------------------------------------------------------
    def send(self, owner: str, session_id: str, head: str, message: dict | None, attach_as: str, editor: Any,
             use_mask: bool, backend: str | None, seed, steps, guidance_scale, image_guidance_scale, strength,
             timeout, request: gr.Request = None):
        """The message box: first the pending turn, then the answered one (see chat.send_message)."""
        who, listed = "", gr.skip()
        asked = dataclasses.replace(chat.message_files(message), attach_as=attach_as,
                                    painted_mask=render.mask_from_editor(editor) if use_mask else None)
        params = dict(zip(chat.EDIT_FIELDS, (seed, steps, guidance_scale, image_guidance_scale, strength)))
        try:
            who = self._who(owner, request)
            for step in chat.send_message(self.studio, who, session_id, _node(head), asked, backend or "",
                                          params=params, timeout_s=timeout):
                if step.started:
                    session_id, head, listed = step.session.id, "", self._sessions(who, step.session.id)
                    if not asked.text:
                        yield render.session_values(self.studio, step.session, step.notices) + (CLEARED_MESSAGE, listed)
                    continue
                values = list(render.session_values(self.studio, step.session, step.notices, shown=step.shown))
                if step.pending is not None:
                    values[2] = render.chat_messages(self.studio, step.session, pending=step.pending, shown=step.shown)
                    yield tuple(values) + (gr.skip(), listed)
                    continue
                if step.turn is not None and step.turn.status == "failed":
                    gr.Warning(f"turn #{step.turn.seq} failed: {path_free(step.turn.error)}")
                yield tuple(values) + (CLEARED_MESSAGE, self._sessions(who, session_id))
        except USER_ERRORS as exc:
            yield self._kept(who, session_id, head, exc) + (gr.skip(), listed)

    def _kept(self, who: str, session_id: str, head: str, exc: Exception) -> tuple:
        """The session as it is after a refused message, the reason on top (or only the reason)."""
        gr.Warning(path_free(exc))
        view = None
        if session_id and who:
            try:
                view = editing.get_session(self.studio, who, session_id)
            except USER_ERRORS:
                view = None
        if view is None:
            return render.unchanged(str(exc))
        return render.session_values(self.studio, view, [f"⚠ {exc}"], shown=chat.continuing_turn(view, _node(head)))

    @_shows_user_errors()
    def undo(self, owner: str, session_id: str, head: str, request: gr.Request = None):
        view = editing.undo(self.studio, self._who(owner, request), session_id, _node(head))
        return render.session_values(self.studio, view, ["undone: the turn stays in the tree; pick it to redo"])

    @_shows_user_errors()
    def branch(self, owner: str, session_id: str, turn: str, request: gr.Request = None):
        view = editing.set_head(self.studio, self._who(owner, request), session_id, _node(turn))
        return render.session_values(self.studio, view,
                                     ["the next instruction continues from here; other branches are kept"])

    @_shows_user_errors()
    def retry(self, owner: str, session_id: str, turn: str, backend: str | None, timeout, request: gr.Request = None):
        if not _node(turn):
            raise editing.EditingError("pick the failed turn to retry")
        res = editing.retry_turn(self.studio, self._who(owner, request), session_id, _node(turn),
                                 backend=backend or None, timeout_s=chat.time_limit(timeout))
        if res.turn.status == "failed":
            gr.Warning(f"turn #{res.turn.seq} failed again: {path_free(res.turn.error)}")
        return render.session_values(self.studio, res.session, shown=res.turn.id)

    @_shows_user_errors()
    def pick(self, owner: str, session_id: str, turn: str, request: gr.Request = None):
        """A turn picked in the tree: what it can be compared with, and its before/after."""
        view = editing.get_session(self.studio, self._who(owner, request), session_id)
        values = render.session_values(self.studio, view, node=_node(turn))
        return values[5], values[6]

    # -- keeping as data --------------------------------------------------------------------------
    @_shows_user_errors()
    def export(self, owner: str, session_id: str, turn: str, form: str, dataset: str, request: gr.Request = None):
        who = self._who(owner, request)
        ids = editing.export_branch(self.studio, who, session_id, tip=_node(turn), form=form, dataset=dataset)
        view = editing.get_session(self.studio, who, session_id)
        return render.session_values(
            self.studio, view, [f"exported {len(ids)} {form} sample(s) to dataset '{dataset}': " + ", ".join(ids)],
            node=_node(turn))

    @_shows_user_errors()
    def send_to_annotation(self, owner: str, session_id: str, turn: str, other: str, batch: str,
                           request: gr.Request = None):
        who = self._who(owner, request)
        item = editing.send_pair_to_annotation(self.studio, who, session_id, _node(turn) or "", other or "",
                                               batch=batch)
        view = editing.get_session(self.studio, who, session_id)
        return render.session_values(self.studio, view, [f"sent to annotation batch '{batch}' (item {item})"],
                                     node=_node(turn))

    # -- each backend's own defaults --------------------------------------------------------------
    def edit_defaults(self, backend: str | None) -> tuple:
        """The edit parameter fields at the chosen edit backend's own values."""
        return tuple(chat.own_defaults(self.studio, backend, chat.EDIT_FIELDS).values())

    def start_defaults(self, backend: str | None) -> tuple:
        """Width, height, steps and guidance of the start-from-prompt fields at the backend's own values."""
        own = chat.own_defaults(self.studio, backend, chat.START_FIELDS)
        if backend:  # a size the backend does not name is the one it gets when none is asked
            own = {**own, "width": own["width"] or chat.FALLBACK_SIDE, "height": own["height"] or chat.FALLBACK_SIDE}
        return tuple(own.values())
