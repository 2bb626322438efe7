"""Who is calling an Annotate handler: login name, Hugging Face profile or typed name, and the role."""
import gradio as gr

from studio.annotation import AnnotationError
from studio.annotation.identity import Identity, identify


def current_identity(studio, typed_name: str, request: gr.Request | None,
                     profile: gr.OAuthProfile | None) -> Identity | None:
    """The caller's identity under the configured auth mode (None when not signed in)."""
    username = getattr(request, "username", None) if request is not None else None
    oauth = getattr(profile, "username", None) or (profile.get("preferred_username") if isinstance(profile, dict) else None)
    try:
        return identify(studio.settings, username=username, oauth_username=oauth, typed_name=typed_name)
    except AnnotationError as exc:
        raise gr.Error(str(exc)) from None


def require(studio, typed_name: str, request: gr.Request | None, profile: gr.OAuthProfile | None) -> Identity:
    """The identity, or a clear error telling the person how to sign in."""
    who = current_identity(studio, typed_name, request, profile)
    if who is None:
        mode = studio.settings.auth_mode
        hint = {"password": "sign in", "hf-oauth": "sign in with Hugging Face"}.get(mode, "type your name and press Start")
        raise gr.Error(f"Please {hint} first.")
    return who


def require_admin(studio, typed_name: str, request: gr.Request | None, profile: gr.OAuthProfile | None) -> Identity:
    """The identity of an admin; annotators get an error (results, exports and batches are admin-only)."""
    who = require(studio, typed_name, request, profile)
    if not who.is_admin:
        raise gr.Error("Only admins can see results, other people's votes, exports and batch settings.")
    return who
