"""What a run is asked to do (RunRequest) and what it shows while it runs (RunState of ViewItems)."""
from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from PIL import Image

from studio.reasoning.modes import DEFAULT_MAX_IMAGES, DEFAULT_MAX_ROUNDS

ItemKind = Literal["text", "image", "crop", "note", "critique"]
ItemStatus = Literal["ready", "pending", "failed", "skipped"]
RunStatus = Literal["running", "done", "partial", "failed", "refused", "not-converged"]


@dataclass
class RunRequest:
    """One run: the mode, the user's question (and image), the backends, and the bounds."""

    mode: str
    question: str
    input_image: Image.Image | None = None
    #: chat backend that writes the rationale; None when ``rationale`` is given by the user
    reasoner: str | None = None
    image_backend: str | None = None
    #: vision-language backend that critiques images (image correction); defaults to the reasoner
    critic: str | None = None
    #: a rationale written or pasted by the user (used instead of asking a reasoner)
    rationale: str | None = None
    max_images: int = DEFAULT_MAX_IMAGES
    max_rounds: int = DEFAULT_MAX_ROUNDS
    seed: int = 0
    width: int = 512
    height: int = 512
    reasoner_timeout_s: float = 120.0
    image_timeout_s: float = 300.0
    #: render image parts at the same time (False: one after another, the bench's baseline)
    concurrent: bool = True
    #: set by the user's Stop: waiting calls give up, unfinished parts are reported as stopped
    stop: threading.Event | None = None


@dataclass
class ViewItem:
    """One entry of the interleaved view: prose, an image slot, a snapshot, a critique or a note."""

    kind: ItemKind
    text: str = ""
    status: ItemStatus = "ready"
    #: SHA-256 of the stored image once rendered
    image: str | None = None
    error: str = ""
    box: list[int] | None = None
    round: int | None = None
    seconds: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, "")}


@dataclass
class RunState:
    """The whole run as it stands; the runner yields it after every change."""

    mode: str
    question: str
    reasoner: str | None = None
    image_backend: str | None = None
    critic: str | None = None
    input_image: str | None = None
    items: list[ViewItem] = field(default_factory=list)
    status: RunStatus = "running"
    rationale: str = ""
    final_answer: str | None = None
    final_image: str | None = None
    notices: list[str] = field(default_factory=list)
    timings: dict[str, Any] = field(default_factory=dict)
    rounds: list[dict[str, Any]] = field(default_factory=list)
    llm: list[dict[str, Any]] = field(default_factory=list)
    run_id: str | None = None

    @property
    def finished(self) -> bool:
        return self.status != "running"

    def note(self, message: str) -> None:
        """Record a notice and show it in the stream at this point."""
        self.notices.append(message)
        self.items.append(ViewItem("note", message))
