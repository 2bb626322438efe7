"""One planned prompt or instruction: what the preview shows and what a batch item executes."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

DIFFICULTY_LABELS = {1: "easy", 2: "medium", 3: "hard"}
METHODS = ("template", "attributes", "llm")


@dataclass
class PlannedRow:
    """A sampled prompt (text-to-image) or instruction (edit), with everything that explains it."""

    index: int
    taxonomy_id: str
    method: str
    #: generation | edit | multi_turn
    kind: str
    text: str
    seed: int
    attributes: dict[str, Any] = field(default_factory=dict)
    template: str = ""
    difficulty: int = 1
    difficulty_reason: str = ""
    constraints: list[str] = field(default_factory=list)
    reasoning_steps: int = 0
    #: background knowledge the prompt needs (domain facts the model must know), in steps
    knowledge: int = 0
    #: edits: the prompt that renders the source image, and a reference image prompt when needed
    source_prompt: str | None = None
    reference_prompt: str | None = None
    #: multi-turn scripts: one instruction per round
    turns: list[str] = field(default_factory=list)
    #: LLM method: which meta-prompt, its rendered messages, and the draft the LLM starts from
    meta_prompt_kind: str | None = None
    meta_prompt: list[dict[str, str]] = field(default_factory=list)
    draft: str | None = None

    @property
    def difficulty_label(self) -> str:
        return DIFFICULTY_LABELS.get(self.difficulty, str(self.difficulty))

    @property
    def task(self) -> str:
        """The sample task this row produces."""
        return {"generation": "text-to-image", "edit": "edit", "multi_turn": "multi-turn-edit"}[self.kind]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PlannedRow":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def preview_text(self) -> str:
        """The text as one line for tables (multi-turn rounds joined by arrows)."""
        if self.turns:
            return " ⟶ ".join(self.turns)
        return self.text
