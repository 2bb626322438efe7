"""The shipped worked examples (assets/reasoning/examples.yaml), one or more per mode."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from studio.yamlio import load_yaml
from PIL import Image

from studio.images import load_image
from studio.reasoning.modes import MODES
from studio.settings import ASSETS_DIR

EXAMPLES_DIR = ASSETS_DIR / "reasoning"


@dataclass(frozen=True)
class ReasoningExample:
    """A question (and image) with the rationale a reasoner would write, and critiques for correction."""

    id: str
    mode: str
    source: str
    question: str
    rationale: str = ""
    input_image: str | None = None
    critiques: tuple[str, ...] = field(default_factory=tuple)

    @property
    def label(self) -> str:
        return f"{self.id} ({MODES[self.mode].title}; {self.source})"

    def image_path(self) -> Path | None:
        return EXAMPLES_DIR / "images" / self.input_image if self.input_image else None

    def load_input_image(self) -> Image.Image | None:
        path = self.image_path()
        return load_image(path) if path else None


@lru_cache(maxsize=4)
def load_examples(path: Path = EXAMPLES_DIR / "examples.yaml") -> tuple[ReasoningExample, ...]:
    """All examples in file order; ValueError names the entry when the file is malformed."""
    data = load_yaml(Path(path).read_text(encoding="utf-8"))
    out = []
    for n, raw in enumerate(data.get("examples") or []):
        where = f"{path}: examples[{n}]"
        if raw.get("mode") not in MODES:
            raise ValueError(f"{where}: unknown mode {raw.get('mode')!r}")
        if not str(raw.get("question") or "").strip():
            raise ValueError(f"{where}: the question is empty")
        out.append(
            ReasoningExample(
                id=str(raw["id"]), mode=raw["mode"], source=str(raw.get("source") or ""),
                question=str(raw["question"]).strip(), rationale=str(raw.get("rationale") or "").strip(),
                input_image=raw.get("input_image"), critiques=tuple(str(c).strip() for c in raw.get("critiques") or ()),
            )
        )
    return tuple(out)


def get_example(example_id: str) -> ReasoningExample:
    """The example called ``example_id``; KeyError naming the known ones otherwise."""
    for ex in load_examples():
        if ex.id == example_id:
            return ex
    raise KeyError(f"no example {example_id!r}; examples: {', '.join(e.id for e in load_examples())}")
