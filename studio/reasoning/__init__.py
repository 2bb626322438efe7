"""Reasoning with images (UnifiedVisual): a text reasoner writes a rationale with image parts,
image backends render them, and every run is kept as data."""


class ReasoningInputError(ValueError):
    """A run cannot start with what the user gave (missing image, no reasoner, wrong backend)."""
