"""Inference engines behind one protocol (see backends.base), registered by name (backends.registry)."""
from backends.base import (  # noqa: F401
    Backend,
    BackendError,
    BackendLoadError,
    Cancelled,
    Capability,
    ChatMessage,
    ChatRequest,
    ChatResult,
    EditRequest,
    GenerationRequest,
    ImageResult,
    UnsupportedOperation,
)
