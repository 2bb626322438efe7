"""The UI side of the access policy (:mod:`studio.auth`): who is calling, and the guard every event goes through.

``guard(studio, action, fn)`` returns ``fn`` wrapped so that, before its body runs, the caller's role
is checked against ``POLICY[action]`` and, for actions with a per-user limit, a slot is taken (and
given back when the call ends). Gradio fills the wrapper's two leading parameters with the request
and the OAuth profile, so identity reaches every tab the same way: the login name in password mode,
the Hugging Face profile in hf-oauth mode, the configured role in open mode.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import threading
import time
import typing
from typing import Any, Callable

import gradio as gr

from studio import auth
from studio.auth import POLICY, AuthError, Identity
from studio.markup import HIDE_PATHS, redact_paths
from studio.settings import Settings

_slots = auth.Slots()
ACTION_ATTR = "studio_action"  # the action a wrapped handler belongs to (read by the coverage test)


def _oauth_name(profile, request=None) -> str | None:
    """The Hugging Face username: from the injected profile, else from the request's login session."""
    if profile is None and request is not None:
        try:
            info = request.session.get("oauth_info") or {}
        except (AssertionError, AttributeError, KeyError):  # no session middleware: nobody signed in
            info = {}
        if info.get("expires_at") is not None and info["expires_at"] < time.time():
            info = {}
        profile = info.get("userinfo")
    return getattr(profile, "username", None) or (profile.get("preferred_username") if isinstance(profile, dict) else None)


def _username(request) -> str | None:
    return getattr(request, "username", None) if request is not None else None


def identify(settings, typed_name: str | None, request, profile=None) -> Identity | None:
    """:func:`studio.auth.identify` with the names the request carries (raises AuthError on a bad name)."""
    return auth.identify(settings, username=_username(request), oauth_username=_oauth_name(profile, request),
                         typed_name=typed_name)


def current_identity(settings: Settings, typed_name: str | None, request: gr.Request | None,
                     profile: gr.OAuthProfile | None = None) -> Identity | None:
    """The caller's identity under the configured auth mode (None when not signed in)."""
    try:
        return identify(settings, typed_name, request, profile)
    except AuthError as exc:
        raise gr.Error(str(exc)) from None


def require(settings: Settings, typed_name: str | None, request: gr.Request | None,
            profile: gr.OAuthProfile | None = None) -> Identity:
    """The identity, or a clear error telling the person how to sign in."""
    who = current_identity(settings, typed_name, request, profile)
    if who is None:
        mode = settings.auth_mode
        hint = {"password": "sign in", "hf-oauth": "sign in with Hugging Face"}.get(mode, "type your name and press Start")
        raise gr.Error(f"Please {hint} first.")
    return who


def is_admin(studio, request: gr.Request | None, profile: gr.OAuthProfile | None = None) -> bool:
    """Whether the caller has the admin role (no typed name needed: the role comes from the sign-in)."""
    return auth.role_of(studio.settings, username=_username(request),
                        oauth_username=_oauth_name(profile, request)) == "admin"


def _user_key(studio, request, profile) -> str:
    """Whose slots these are: the signed-in name; in open mode (no verified name) the client address."""
    name = _username(request) or _oauth_name(profile, request)
    if name and studio.settings.auth_mode != "open":
        return name
    client = getattr(request, "client", None)
    return "open:" + str(getattr(client, "host", "") or getattr(request, "session_hash", "") or "?")


@contextlib.contextmanager
def _viewer(hide_paths: bool):
    """Messages made inside, and the message of a gr.Error raised from inside, hide server paths when
    the caller is not an admin (see studio.markup.path_free)."""
    token = HIDE_PATHS.set(hide_paths)
    try:
        yield
    except gr.Error as exc:
        if hide_paths and redact_paths(exc.message) != exc.message:
            exc.message = redact_paths(exc.message)
            exc.args = (exc.message,)
        raise
    finally:
        HIDE_PATHS.reset(token)


def guard(studio, action: str, fn: Callable) -> Callable:
    """``fn`` behind the policy of ``action`` (see the module docstring); the wrapper keeps fn's kind
    (plain, generator, coroutine) so Gradio streams and awaits it as before."""
    rule = POLICY[action]  # KeyError here: an event names an action the table does not have

    def admit(request, profile) -> tuple[str, bool]:
        """(the caller's slot key, whether their messages hide server paths); refusals raise."""
        role = auth.role_of(studio.settings, username=_username(request),
                            oauth_username=_oauth_name(profile, request))
        refused = auth.refusal(action, role)
        if refused is None:
            user = _user_key(studio, request, profile)
            refused = _slots.take(action, user)
            if refused is None:
                return user, role != "admin"
        raise gr.Error(refused, visible=not rule.quiet, print_exception=False)

    def over_time() -> gr.Error:
        return gr.Error(f"Stopped: this took longer than its limit of {rule.time_limit_s:g} s.", print_exception=False)

    if inspect.isasyncgenfunction(fn):
        async def wrapper(_request, _profile, *args, **kwargs):
            user, hide = admit(_request, _profile)
            started = time.monotonic()
            inner = fn(*args, **kwargs)
            try:
                while True:
                    with _viewer(hide):
                        try:
                            value = await inner.__anext__()
                        except StopAsyncIteration:
                            return
                    yield value
                    if rule.time_limit_s and time.monotonic() - started > rule.time_limit_s:
                        raise over_time()
            finally:
                await inner.aclose()
                _slots.give(action, user)
    elif inspect.isgeneratorfunction(fn):
        def wrapper(_request, _profile, *args, **kwargs):
            user, hide = admit(_request, _profile)
            started = time.monotonic()
            inner = fn(*args, **kwargs)
            try:
                while True:
                    with _viewer(hide):  # each step may run on another worker thread
                        try:
                            value = next(inner)
                        except StopIteration:
                            return
                    yield value
                    if rule.time_limit_s and time.monotonic() - started > rule.time_limit_s:
                        raise over_time()
            finally:
                inner.close()
                _slots.give(action, user)
    elif inspect.iscoroutinefunction(fn):
        async def wrapper(_request, _profile, *args, **kwargs):
            import anyio

            user, hide = admit(_request, _profile)
            try:
                limit = anyio.fail_after(rule.time_limit_s) if rule.time_limit_s else contextlib.nullcontext()
                with limit, _viewer(hide):
                    return await fn(*args, **kwargs)
            except TimeoutError:
                raise over_time() from None
            finally:
                _slots.give(action, user)
    elif rule.time_limit_s:
        def wrapper(_request, _profile, *args, **kwargs):
            # The body runs on its own thread so the caller gets an answer at the limit; the user's
            # slot stays taken until the body really returns, so abandoned work cannot pile up.
            user, hide = admit(_request, _profile)
            box: dict[str, Any] = {}
            ctx = contextvars.copy_context()  # gr.Info/gr.Warning inside the body reach this event

            def body():
                try:
                    with _viewer(hide):
                        box["value"] = fn(*args, **kwargs)
                except BaseException as exc:  # noqa: BLE001 - handed back to the waiting caller
                    box["error"] = exc
                finally:
                    _slots.give(action, user)

            def run_body():
                ctx.run(body)

            worker = threading.Thread(target=run_body, daemon=True, name=f"studio-{action}")
            worker.start()
            worker.join(rule.time_limit_s)
            if worker.is_alive():
                raise over_time()
            if "error" in box:
                raise box["error"]
            return box["value"]
    else:
        def wrapper(_request, _profile, *args, **kwargs):
            user, hide = admit(_request, _profile)
            try:
                with _viewer(hide):
                    return fn(*args, **kwargs)
            finally:
                _slots.give(action, user)

    functools.update_wrapper(wrapper, fn)
    del wrapper.__wrapped__  # Gradio must see the wrapper's own signature, set below
    try:
        # a partial of a handler (one method for several buttons) has the hints of the method
        hints = typing.get_type_hints(fn.func if isinstance(fn, functools.partial) else fn)
    except (NameError, TypeError):
        hints = {}
    params = list(inspect.signature(fn).parameters.values())
    lead = [inspect.Parameter("_request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=gr.Request),
            inspect.Parameter("_profile", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                              annotation=typing.Optional[gr.OAuthProfile])]
    wrapper.__signature__ = inspect.Signature(lead + [p.replace(annotation=hints.get(p.name, p.annotation))
                                                      for p in params])
    wrapper.__annotations__ = {**hints, "_request": gr.Request, "_profile": typing.Optional[gr.OAuthProfile]}
    setattr(wrapper, ACTION_ATTR, action)
    return wrapper


def action_of(fn: Callable | None) -> str | None:
    """The policy action a registered handler belongs to (None: not guarded)."""
    return getattr(fn, ACTION_ATTR, None)
