"""How an edit session looks in the Edit chat tab: chat messages, tree, turn pickers, status,
and the mask painted in the editor."""
from __future__ import annotations

from typing import Any

import gradio as gr
import numpy as np
from PIL import Image

from studio.markup import md_code_block, md_text, path_free
from studio.editing.drift import format_drift
from studio.editing.views import SessionView, TurnView

SOURCE = "source"


def image_path(studio, sha: str | None) -> str | None:
    """The stored file of an image, as a path Gradio can serve."""
    if not sha:
        return None
    p = studio.images.find(sha)
    return str(p) if p else None


def _image_message(studio, sha: str | None, caption: str, alt: str) -> dict[str, Any]:
    path = image_path(studio, sha)
    content: list[Any] = [caption]
    if path:
        content.insert(0, {"path": path, "alt_text": alt})
    return {"role": "assistant", "content": content}


#: failures of the moment (a timeout, a stop, an engine that crashed or could not load): the same turn
#: may work on a second try, as may one whose backend says to retry. A backend's reasoned refusal
#: ("cannot do X — do Y") would only repeat.
_PASSING_FAILURES = ("timed out", "was cancelled", "failed to load", " failed: ", "returned no image",
                     "server stopped", "interrupted", "retry", "try again")


def retry_can_help(error: str | None) -> bool:
    text = (error or "").lower()
    return any(mark in text for mark in _PASSING_FAILURES)


def turn_caption(t: TurnView) -> str:
    """One paragraph under a turn's image: backend, honored/ignored, notices, drift, time."""
    parts = [f"**#{t.seq}** · {t.backend}"]
    if t.duration_s is not None:
        parts[0] += f" · {t.duration_s:.2f} s"
    if t.attempts > 1:
        parts[0] += f" · attempt {t.attempts}"
    if t.status == "failed":
        what_next = ("pick the turn and press *Retry*, or send a new instruction" if retry_can_help(t.error)
                     else "the same request would fail again: rephrase the instruction or pick another backend")
        parts.append(f"✗ **failed**: {md_text(path_free(t.error))} — {what_next}")
        return "\n\n".join(parts)
    if t.status == "running":
        parts.append("… working")
        return "\n\n".join(parts)
    if t.honored:
        parts.append("✓ honored: " + "; ".join(map(md_text, t.honored)))
    if t.ignored:
        parts.append("✗ could not do: " + "; ".join(map(md_text, t.ignored)))
    parts.extend(f"ℹ {md_text(path_free(n))}" for n in t.notices)
    parts.append(format_drift(t.drift))
    return "\n\n".join(parts)


def chat_messages(
    studio, view: SessionView | None, pending: str | None = None, shown: str | None = "head"
) -> list[dict[str, Any]]:
    """The branch ending at ``shown`` (the head by default) as a conversation: the source image,
    then instruction → image per turn."""
    if view is None:
        return []
    origin = {"upload": "uploaded", "generated": "generated from", "sample": "sample"}.get(view.origin, view.origin)
    msgs = [_image_message(studio, view.source_image, f"Source image ({origin} {md_text(view.origin_ref)})".strip(), "source image")]
    for t in view.path(shown):
        extra = []
        if t.mask_image:
            extra.append("with a mask")
        if t.reference_images:
            extra.append(f"{len(t.reference_images)} reference image(s)")
        text = md_text(t.instruction) + (f"  _({', '.join(extra)})_" if extra else "")
        msgs.append({"role": "user", "content": text})
        sha = t.output_image if t.done else None
        msgs.append(_image_message(studio, sha, turn_caption(t), f"output of turn {t.seq}"))
    if pending:
        msgs.append({"role": "user", "content": md_text(pending)})
        msgs.append({"role": "assistant", "content": "… working"})
    return msgs


def tree_markdown(view: SessionView | None, shown: str | None = "head") -> str:
    if view is None:
        return "_No session open. Start one from an upload, a prompt or a sample._"
    return md_code_block("\n".join(view.tree_lines(shown)))


def turn_choices(view: SessionView | None) -> list[tuple[str, str]]:
    """Every node of the tree for the 'turn' picker: the source image first, then turns by number."""
    if view is None:
        return []
    turns = sorted(view.turns.values(), key=lambda t: t.seq)
    return [("#0 source image", SOURCE)] + [(view.turn_label(t), t.id) for t in turns]


def done_choices(view: SessionView | None) -> list[tuple[str, str]]:
    if view is None:
        return []
    return [(view.turn_label(t), t.id) for t in sorted(view.turns.values(), key=lambda t: t.seq) if t.done]


def before_after(studio, view: SessionView | None, node: str | None) -> tuple[str, str] | None:
    """(input, output) of a done turn for the slider; source vs itself at the root."""
    if view is None:
        return None
    if node is None or node not in view.turns or not view.turns[node].done:
        shown = image_path(studio, view.image_of(node))
        return (shown, shown) if shown else None
    t = view.turns[node]
    a, b = image_path(studio, t.input_image), image_path(studio, t.output_image)
    return (a, b) if a and b else None


def status_markdown(view: SessionView | None, notices: list[str] | None = None,
                    shown: str | None = "head") -> str:
    lines = [f"ℹ {md_text(path_free(n))}" for n in notices or []]
    if view is not None:
        node = view.head if shown == "head" else shown
        turn = view.turns.get(node) if node else None
        where = "the source image" if turn is None else f"turn #{turn.seq} ({turn.status})"
        lines.append(f"Session `{view.id}` · {len(view.turns)} turn(s) · continuing from {where}")
    return "\n\n".join(lines)


def mask_from_editor(value: Any) -> Image.Image | None:
    """Everything painted on the editor's layers (any opaque pixel) as an L mask, or None."""
    if not isinstance(value, dict):
        return None
    mask = None
    for layer in value.get("layers") or []:
        if layer is None:
            continue
        img = layer if isinstance(layer, Image.Image) else Image.open(layer)
        alpha = np.asarray(img.convert("RGBA"))[..., 3] > 0
        mask = alpha if mask is None else (mask | alpha)
    if mask is None or not mask.any():
        return None
    return Image.fromarray(mask.astype(np.uint8) * 255, mode="L")


def session_values(
    studio, view: SessionView | None, notices: list[str] | None = None, node: str | None = "head",
    shown: str | None = "head",
) -> tuple:
    """Values for the components every session handler refreshes (see RENDER_KEYS).

    ``shown`` is the turn this browser tab continues from: the session's head, except right
    after this tab's own turn when another tab has moved the head meanwhile.
    """
    if view is None:
        return ("", "", [], tree_markdown(None), gr.update(choices=[], value=None),
                gr.update(choices=[], value=None), None, None, status_markdown(None, notices))
    tip = view.head if shown == "head" else shown
    pick = tip if node == "head" else node
    bg = image_path(studio, view.image_of(tip))
    return (
        view.id, tip or "", chat_messages(studio, view, shown=tip), tree_markdown(view, tip),
        gr.update(choices=turn_choices(view), value=pick or SOURCE),
        gr.update(choices=done_choices(view), value=None),
        before_after(studio, view, pick),
        {"background": bg, "layers": [], "composite": None} if bg else None,
        status_markdown(view, notices, tip),
    )


RENDER_KEYS = ("session_id", "head", "chat", "tree", "turn", "compare", "slider", "editor", "status")


def unchanged(msg: str) -> tuple:
    """Leave everything as it is and say why (inline and as a toast)."""
    gr.Warning(msg)
    return tuple(gr.skip() for _ in RENDER_KEYS[:-1]) + (f"⚠ {md_text(path_free(msg))}",)
