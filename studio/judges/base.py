"""What every judge is and returns: the item it looks at, a score, a pairwise verdict, the Judge protocol."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

from PIL import Image

from studio.judges import JudgeError

#: the judge that needs no model: GenEval's rules on the procedural engine's scene graph
SCENE_GRAPH = "scene-graph"


@dataclass
class JudgeItem:
    """What a judge looks at: the request text, the output, the input images (if any) and, for GenEval,
    the prompt's metadata (parsed from the prompt when it follows GenEval's templates)."""

    prompt: str
    image: Image.Image
    sources: Sequence[Image.Image] = ()
    metadata: dict[str, Any] | None = None


@dataclass
class Score:
    """One pointwise judgement. ``status``: ok | unparseable | refused | failed | unscorable; only ok
    counts. ``scores`` are the judge's numbers by criterion, ``aggregate`` the rubric's combination."""

    status: str
    scores: dict[str, float] = field(default_factory=dict)
    aggregate: dict[str, float] = field(default_factory=dict)
    reasoning: str = ""
    raw: str = ""
    problem: str = ""
    attempts: int = 0
    notices: list[str] = field(default_factory=list)
    usage: dict[str, float] = field(default_factory=dict)

    @property
    def overall(self) -> float | None:
        return self.aggregate.get("overall") if self.status == "ok" else None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Verdict:
    """One ordered pair's judgement; ``winner`` is "A", "B" or "tie" (None unless status is ok)."""

    status: str
    winner: str | None = None
    reasoning: str = ""
    raw: str = ""
    problem: str = ""
    attempts: int = 0
    notices: list[str] = field(default_factory=list)
    usage: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Judge:
    name: str = ""
    kind: str = ""
    rubrics: tuple[str, ...] = ()
    pairwise: bool = False

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "rubrics": list(self.rubrics), "pairwise": self.pairwise}

    def check(self, rubric: str | None = None, pairwise: bool = False) -> None:
        """Refuse before a run what this judge cannot do."""
        if rubric is not None and rubric not in self.rubrics:
            raise JudgeError(f"judge '{self.name}' ({self.kind}) cannot score the rubric '{rubric}'; "
                             f"it scores: {', '.join(self.rubrics) or 'nothing pointwise'}")
        if pairwise and not self.pairwise:
            raise JudgeError(f"judge '{self.name}' ({self.kind}) cannot compare pairs")

    def score(self, item: JudgeItem, rubric: str) -> Score:
        raise NotImplementedError

    def compare(self, a: Image.Image, b: Image.Image, prompt: str, sources: Sequence[Image.Image] = (),
                criterion: str = "overall", metadata: dict[str, Any] | None = None) -> Verdict:
        raise NotImplementedError

    def usage(self) -> dict[str, float]:
        return {}
