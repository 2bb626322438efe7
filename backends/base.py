"""The one protocol every inference engine speaks.

A backend is built from a named entry in the backends config and declares what it can do
(capabilities). Tabs ask the registry for a backend by name or by capability and call one of
``generate`` / ``edit`` / ``chat``; they never know which engine is behind it.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, ClassVar, Mapping, Sequence

from PIL import Image


class Capability(str, Enum):
    TEXT_TO_IMAGE = "text-to-image"
    EDIT = "edit"
    INPAINT = "inpaint"
    CHAT = "chat"
    VISION_LANGUAGE = "vision-language"
    OBJECT_DETECTION = "object-detection"


ProgressFn = Callable[[int, int], None]
"""Called as ``progress(step, total)`` from inside a generation."""


class BackendError(Exception):
    """A failure a user can act on: carries the backend name, the reason and what to do."""

    def __init__(self, backend: str, reason: str, fix: str = "") -> None:
        self.backend = backend
        self.reason = reason
        self.fix = fix
        msg = f"Backend '{backend}': {reason}"
        if fix:
            msg += f" — {fix}"
        super().__init__(msg)


class BackendLoadError(BackendError):
    """The backend could not be built (missing package, weights, GPU, bad config)."""


class UnsupportedOperation(BackendError):
    """The backend cannot do what was asked; ``fix`` names the kind of backend that can."""


class Cancelled(Exception):
    """Raised between steps when the request's cancel event is set."""


class _Cancellable:
    cancel: threading.Event | None

    def check_cancel(self) -> None:
        """Raise Cancelled if the user cancelled; engines call this between steps."""
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled()


@dataclass
class GenerationRequest(_Cancellable):
    """Text to image."""

    prompt: str
    negative_prompt: str = ""
    seed: int = 0
    width: int = 512
    height: int = 512
    steps: int | None = None
    guidance_scale: float | None = None
    params: dict[str, Any] = field(default_factory=dict)
    progress: ProgressFn | None = None
    cancel: threading.Event | None = None


@dataclass
class EditRequest(_Cancellable):
    """Image (+ optional mask, reference images) and an instruction to a new image."""

    image: Image.Image
    instruction: str
    mask: Image.Image | None = None
    reference_images: Sequence[Image.Image] = ()
    seed: int = 0
    steps: int | None = None
    guidance_scale: float | None = None
    image_guidance_scale: float | None = None
    strength: float | None = None
    negative_prompt: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    progress: ProgressFn | None = None
    cancel: threading.Event | None = None


@dataclass
class ImageResult:
    """What an image call returns. ``honored``/``ignored`` list prompt phrases when the engine knows."""

    image: Image.Image
    backend: str = ""
    honored: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    scene_graph: dict[str, Any] | None = None
    notices: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    procedural: bool = False


@dataclass
class ChatMessage:
    role: str  # "system" | "user" | "assistant"
    content: str
    images: Sequence[Image.Image] = ()


@dataclass
class ChatRequest:
    messages: Sequence[ChatMessage]
    temperature: float | None = None
    max_tokens: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    cancel: threading.Event | None = None


@dataclass
class ChatResult:
    text: str
    backend: str = ""
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    cost_usd: float | None = None
    raw: Any = None


class Backend:
    """Base class for engines. A subclass declares itself once, here: ``engine`` (the name configs use),
    ``capabilities``, ``default_params`` and ``uses_gpu``; it overrides the calls it supports.

    Engines are constructed by the registry as ``Engine(name=..., **entry_options)``; heavy
    libraries must be imported inside methods (or a ``load()``), never at module import.
    """

    engine: ClassVar[str] = ""
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    #: default parameters the UI pre-fills for this backend (seed, steps, guidance ...)
    default_params: ClassVar[Mapping[str, Any]] = {}
    #: whether its models want a GPU when one is there (API and procedural engines do not)
    uses_gpu: ClassVar[bool] = False

    def __init__(self, name: str, **options: Any) -> None:
        self.name = name
        self.options = dict(options)

    def supports(self, cap: Capability) -> bool:
        return cap in self.capabilities

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "engine": self.engine,
            "capabilities": sorted(c.value for c in self.capabilities),
            "options": self.options,
        }

    def generate(self, request: GenerationRequest) -> ImageResult:
        raise UnsupportedOperation(
            self.name, "cannot generate images from text", "pick a text-to-image backend"
        )

    def edit(self, request: EditRequest) -> ImageResult:
        raise UnsupportedOperation(
            self.name, "cannot edit images", "pick an edit-capable backend"
        )

    def chat(self, request: ChatRequest) -> ChatResult:
        raise UnsupportedOperation(
            self.name, "is not a chat model", "pick a chat or vision-language backend"
        )

    def close(self) -> None:
        """Release memory (GPU) held by the backend."""
