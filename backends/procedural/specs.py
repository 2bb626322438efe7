"""What the prompt parser produces: object groups, relations, texts and scene-wide words."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ObjectSpec:
    """One group of identical objects the prompt asks for."""

    cls: str
    count: int = 1
    color: str | None = None
    size: float = 1.0
    size_word: str | None = None
    explicit_count: bool = False
    arrangement: str | None = None
    phrase: str = ""


@dataclass
class RelationSpec:
    """``subject`` RELATION ``object`` between two object groups (indices into ``objects``)."""

    subject: int
    relation: str
    object: int
    phrase: str


@dataclass
class TextSpec:
    """A quoted string to draw, with its typography."""

    text: str
    weight: str = "normal"
    style: str = "normal"
    family: str = "sans"
    case: str | None = None
    color: str | None = None


@dataclass
class ParsedPrompt:
    objects: list[ObjectSpec] = field(default_factory=list)
    relations: list[RelationSpec] = field(default_factory=list)
    texts: list[TextSpec] = field(default_factory=list)
    setting: str | None = None
    time: str | None = None
    styles: list[str] = field(default_factory=list)
    arrangement: str | None = None
    honored: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
