"""The embedded procedural engine: a deterministic scene renderer and editor with no model weights."""
from backends.procedural.backend import ProceduralBackend

__all__ = ["ProceduralBackend"]
