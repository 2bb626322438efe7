"""Starting a run from what a person filled in: the Reason tab's Ask and Render buttons.

Plain Python: the tab's controller shows the states; the CLI builds its :class:`RunRequest` itself.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Iterator

from PIL import Image

from studio.images import fit_within, load_image
from studio.reasoning import ReasoningInputError
from studio.reasoning.runner import ReasoningRunner
from studio.reasoning.state import RunRequest, RunState


@dataclass(frozen=True)
class RunForm:
    """The run's fields as the page has them (the input image as an uploaded file's path)."""

    mode: str
    question: str = ""
    image_path: str | None = None
    reasoner: str | None = None
    image_backend: str | None = None
    critic: str | None = None
    rationale: str = ""
    max_images: int = 3
    max_rounds: int = 3
    seed: int = 0


@dataclass
class StartedRun:
    """A run that passed its checks: its first state, the states still to come, and notices for the user."""

    first: RunState
    rest: Iterator[RunState]
    notices: list[str] = field(default_factory=list)


def input_image(settings, path: str | None) -> tuple[Image.Image | None, str | None]:
    """The uploaded input image under the studio's upload limits, shrunk to the working size (with a notice)."""
    if not path:
        return None, None
    img = load_image(path, max_bytes=settings.max_upload_bytes, max_pixels=settings.max_image_pixels)
    return fit_within(img, settings.max_working_side)


def start_run(runner: ReasoningRunner, form: RunForm, *, ask_reasoner: bool,
              stop: threading.Event | None = None) -> StartedRun:
    """Start a run: asking the reasoner (Ask) or rendering the written rationale (Render).

    1. The input image, if any, is decoded and shrunk like any upload (the notice says so).
    2. Rendering needs a rationale (image correction excepted: its critic writes what to change).
    3. The request names the reasoner only when asking and the rationale only when rendering.
    4. The runner checks the request and yields its first state before anything is stored; bad input
       raises ``ReasoningInputError`` (or ``studio.images.ImageLoadError``) saying what to fix.
    """
    image, notice = input_image(runner.studio.settings, form.image_path)
    if not ask_reasoner and form.mode != "correction" and not (form.rationale or "").strip():
        raise ReasoningInputError("the rationale box is empty: write or paste a rationale, or load an example")
    request = RunRequest(
        mode=form.mode, question=form.question or "", input_image=image,
        reasoner=(form.reasoner or None) if ask_reasoner else None,
        image_backend=form.image_backend or None, critic=form.critic or None,
        rationale=None if ask_reasoner else (form.rationale or ""),
        max_images=int(form.max_images), max_rounds=int(form.max_rounds), seed=int(form.seed or 0), stop=stop,
    )
    states = runner.run(request)
    first = next(states)
    return StartedRun(first, states, [notice] if notice else [])
