"""One chat message to the edit chat: what the Edit chat tab's message box sends, decided here.

A message is an instruction and, optionally, attached image files. Without an open session the first
attachment becomes the source image of a new session. The remaining attachments are reference images,
or the first of them is the mask. Plain Python: the tab's controller renders each :class:`ChatStep`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

from PIL import Image

from studio.editing.runner import DEFAULT_TIMEOUT_S, backend_defaults, supports_mask
from studio.editing.sessions import EditingError, get_session, start_from_prompt, start_from_upload
from studio.editing.turns import submit_turn
from studio.editing.views import SessionView, TurnView
from studio.images import load_image

#: how attached images are used once a session is open
ATTACH_REFERENCES, ATTACH_MASK = "reference images", "mask"
#: what an edit turn takes from the page (``EditRequest`` fields), and what generating a source image takes
EDIT_FIELDS = ("seed", "steps", "guidance_scale", "image_guidance_scale", "strength")
START_FIELDS = ("width", "height", "steps", "guidance_scale")
#: the size of a generated source image when neither the page nor the backend names one
FALLBACK_SIDE = 512


@dataclass(frozen=True)
class ChatMessage:
    """What the person sent: the instruction, the attached files, and what the files are for."""

    text: str = ""
    files: Sequence[str] = ()
    attach_as: str = ATTACH_REFERENCES
    #: a mask painted in the page's editor (already an L image), used when no mask file is attached
    painted_mask: Image.Image | None = None


@dataclass(frozen=True)
class ChatStep:
    """The session as the chat shows it at one point of answering a message.

    ``shown`` is the turn the sender continues from; ``pending`` the instruction a backend is working
    on (None once answered); ``turn`` the finished (or failed) turn of the message.
    """

    session: SessionView
    shown: str | None
    notices: list[str] = field(default_factory=list)
    pending: str | None = None
    turn: TurnView | None = None
    #: this message opened the session (its first attachment became the source image)
    started: bool = False


def message_files(message: dict[str, Any] | None) -> ChatMessage:
    """A multimodal message value ({"text", "files"}: paths or {"path": ...}) as a ChatMessage."""
    message = message or {}
    files = [f if isinstance(f, str) else (f or {}).get("path") for f in message.get("files") or []]
    return ChatMessage(text=(message.get("text") or "").strip(), files=tuple(f for f in files if f))


def continuing_turn(view: SessionView, shown: str | None) -> str | None:
    """The turn a browser tab continues from: the one it shows if still in the tree, else the head."""
    return shown if shown in view.turns else view.head


def time_limit(asked: float | None) -> float:
    """A turn's time limit as asked, but never past the access policy's limit for an edit turn."""
    from studio.auth import POLICY

    return min(float(asked or DEFAULT_TIMEOUT_S), POLICY["edit_turn"].time_limit_s)


def send_message(
    studio, owner: str, session_id: str | None, shown: str | None, message: ChatMessage, backend: str, *,
    params: dict[str, Any] | None = None, timeout_s: float | None = None,
) -> Iterator[ChatStep]:
    """Answer one chat message; yields what to show as it goes.

    1. No session open: the first attached file starts one (checked and resized like any upload) and a
       step with ``started`` is yielded; a message with no instruction ends there.
    2. An instruction is required from here on.
    3. The other attached files are decoded under the studio's upload limits: reference images, or,
       when attached as the mask, the first one is the mask (else the painted mask is used).
    4. A mask for a backend that does not inpaint is kept, with a notice that it may be ignored.
    5. A step with the instruction ``pending`` is yielded, continuing from ``shown`` (or the head when
       another tab removed it), before the backend is called.
    6. The turn runs (:func:`studio.editing.turns.submit_turn`, under :func:`time_limit`) and the last
       step carries the session after it, the turn and every notice.

    User errors (no image, no instruction, a bad file, a bad parameter) raise ``EditingError`` or
    ``studio.images.ImageLoadError``; nothing is stored for them beyond a session already started.
    """
    files = list(message.files)
    notices: list[str] = []
    if not session_id:
        if not files:
            raise EditingError("start a session first: upload an image, or attach one here")
        view, notices = start_from_upload(studio, owner, files[0], name=files[0].rsplit("/", 1)[-1])
        session_id, shown, files = view.id, None, files[1:]
        yield ChatStep(view, view.head, list(notices), started=True)
        if not message.text:
            return
    if not message.text:
        raise EditingError("write an instruction: what should change in the image?")
    limits = studio.settings
    images = [load_image(f, max_bytes=limits.max_upload_bytes, max_pixels=limits.max_image_pixels) for f in files]
    mask, references = message.painted_mask, images
    if message.attach_as == ATTACH_MASK and images:
        mask, references = images[0].convert("L"), images[1:]
    if mask is not None and backend and not supports_mask(studio, backend):
        notices.append(f"'{backend}' is not an inpainting backend; the mask may be ignored")
    view = get_session(studio, owner, session_id)
    yield ChatStep(view, continuing_turn(view, shown), list(notices), pending=message.text)
    result = submit_turn(studio, owner, session_id, message.text, backend or "", shown=shown, params=params,
                         mask=mask, references=references, timeout_s=time_limit(timeout_s))
    yield ChatStep(result.session, result.turn.id, notices + result.notices, turn=result.turn)


def own_defaults(studio, backend: str | None, keys: Sequence[str]) -> dict[str, Any]:
    """The backend's own value of each key (None: unknown), without loading it.

    The registry entry's defaults come first (its config, a fine-tuned run's training settings, the
    model folder's size; see ``backends.defaults``), then the engine class's ``default_params``.
    """
    if not backend or backend not in studio.backends.names():
        return {key: None for key in keys}
    values = {**backend_defaults(studio, backend), **studio.backends.defaults(backend)}
    return {key: values.get(key) for key in keys}


def generate_source(
    studio, owner: str, prompt: str, backend: str, *, seed: int = 0, width: Any = None, height: Any = None,
    steps: Any = None, guidance_scale: Any = None,
) -> tuple[SessionView, list[str]]:
    """Start a session from an image generated from ``prompt`` at the size asked.

    1. Blank fields take the backend's own values (:func:`own_defaults`); a size neither names is
       ``FALLBACK_SIDE``. Any size the backend can draw is allowed, however small.
    2. The size must be whole pixels, at least 1, and within the studio's image pixel limit.
    3. The image is generated under the edit-turn time limit and becomes the session's source
       (:func:`studio.editing.sessions.start_from_prompt`).
    """
    own = own_defaults(studio, backend, START_FIELDS)
    w, h = _side("width", width, own["width"]), _side("height", height, own["height"])
    limit = studio.settings.max_image_pixels
    if w * h > limit:
        raise EditingError(f"{w}×{h} is more than the studio's limit of {limit:,} pixels; ask for a smaller size")
    params = {"steps": own["steps"] if steps in (None, "") else steps,
              "guidance_scale": own["guidance_scale"] if guidance_scale in (None, "") else guidance_scale}
    return start_from_prompt(studio, owner, prompt, backend, seed=int(seed or 0), width=w, height=h,
                             params=params, timeout_s=time_limit(None))


def _side(key: str, value: Any, own: Any) -> int:
    """A width or height as asked, else the backend's own, else ``FALLBACK_SIDE``: whole pixels, at least 1."""
    if value in (None, ""):
        value = own if own is not None else FALLBACK_SIDE
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise EditingError(f"{key} must be a whole number of pixels, got {value!r}") from None
    if not math.isfinite(number) or number != int(number) or number < 1:
        raise EditingError(f"{key} must be a whole number of pixels, at least 1 (got {value!r})")
    return int(number)
