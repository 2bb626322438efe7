"""The judges: what each can score, and one call per item (``score``) or per ordered pair (``compare``).

Judges are named like backends. Any backend of the backends config that reads images (capability
``vision-language``; openai-chat and transformers-chat engines) is a VLM judge under its own name; a
backend of the ``transformers-detector`` engine is a detector judge; ``scene-graph`` is always there
and needs no model. :func:`resolve_judge` refuses a text-only chat backend before any run, saying why.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any, Sequence

from PIL import Image

from backends.base import BackendError, Cancelled, Capability, ChatMessage, ChatRequest
from studio.images import fit_within, read_png_json
from studio.judges import JudgeError, geneval
from studio.judges.parsing import Parsed, parse_scores, parse_winner
from studio.judges.rubrics import RUBRICS, get_rubric, pair_prompt

SCENE_GRAPH = "scene-graph"
#: the longest image side an OpenAI-compatible API is sent (larger images are downscaled, with a notice)
API_MAX_SIDE = 2048


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


# -- VLM ---------------------------------------------------------------------------------------------
class VLMJudge(Judge):
    """A chat backend that reads images, asked for JSON; unparseable answers are retried a bounded number
    of times and then stored as such. Remote errors were already retried with backoff by the backend."""

    kind = "vlm"
    rubrics = tuple(RUBRICS)
    pairwise = True

    def __init__(self, name: str, backend: Any, *, max_side: int | None = None, parse_retries: int = 2,
                 temperature: float = 0.0, max_tokens: int = 512) -> None:
        self.name = name
        self.backend = backend
        self.max_side = max_side
        self.parse_retries = parse_retries
        self.temperature = temperature
        self.max_tokens = max_tokens

    def _images(self, images: Sequence[Image.Image]) -> tuple[list[Image.Image], list[str]]:
        if not self.max_side:
            return list(images), []
        out, notices = [], []
        for k, img in enumerate(images):
            small, notice = fit_within(img, self.max_side)
            out.append(small)
            if notice:
                notices.append(f"image {k + 1} {notice} (the API's limit)")
        return out, notices

    def _ask(self, text: str, images: Sequence[Image.Image], parse) -> tuple[Parsed, str, int, list[str], dict]:
        images, notices = self._images(images)
        usage = {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0}
        request = ChatRequest(messages=[ChatMessage("user", text, images)], temperature=self.temperature,
                              max_tokens=self.max_tokens)
        parsed, raw, attempts = Parsed("unparseable", problem="not asked"), "", 0
        for attempts in range(1, self.parse_retries + 2):
            try:
                result = self.backend.chat(request)
            except Cancelled:
                raise
            except BackendError as exc:
                return Parsed("failed", problem=str(exc)), raw, attempts, notices, usage
            usage["calls"] += 1
            usage["prompt_tokens"] += result.prompt_tokens
            usage["completion_tokens"] += result.completion_tokens
            usage["cost_usd"] += result.cost_usd or 0.0
            raw = result.text
            parsed = parse(raw)
            if parsed.status == "ok":
                break
        return parsed, raw, attempts, notices, usage

    def score(self, item: JudgeItem, rubric: str) -> Score:
        r = get_rubric(rubric)
        text = r.prompt(item.prompt, len(item.sources))
        parsed, raw, attempts, notices, usage = self._ask(
            text, [*item.sources, item.image], lambda t: parse_scores(t, len(r.criteria), r.low, r.high))
        if parsed.status != "ok":
            return Score(parsed.status, raw=raw, problem=parsed.problem, attempts=attempts, notices=notices,
                         usage=usage, reasoning=parsed.reasoning)
        scores = dict(zip(r.criteria, parsed.value))
        return Score("ok", scores, r.combine(parsed.value), parsed.reasoning, raw, attempts=attempts,
                     notices=notices, usage=usage)

    def compare(self, a, b, prompt, sources=(), criterion="overall", metadata=None) -> Verdict:
        text = pair_prompt(prompt, criterion, len(sources))
        parsed, raw, attempts, notices, usage = self._ask(text, [*sources, a, b], parse_winner)
        return Verdict(parsed.status, parsed.value if parsed.status == "ok" else None, parsed.reasoning, raw,
                       parsed.problem, attempts, notices, usage)

    def usage(self) -> dict[str, float]:
        return dict(getattr(self.backend, "totals", {}) or {})


# -- scene graph -------------------------------------------------------------------------------------
def _nearest_color(rgb: Sequence[int]) -> str:
    from backends.procedural.lexicon import COLORS

    return min(geneval.COLORS, key=lambda c: sum((x - y) ** 2 for x, y in zip(COLORS[c], rgb)))


def scene_boxes(scene: dict[str, Any]) -> list[geneval.Box]:
    """The scene graph's objects as GenEval boxes (front-most first; colour named or nearest of ten)."""
    from backends.procedural.lexicon import COLORS

    boxes = []
    for o in sorted(scene.get("objects") or [], key=lambda o: -int(o.get("z") or 0)):
        color = o.get("color")
        if o.get("rgb"):
            color = color if color in geneval.COLORS else _nearest_color(o["rgb"])
        elif color not in geneval.COLORS:
            color = _nearest_color(COLORS[color]) if color in COLORS else None
        boxes.append(geneval.Box(str(o.get("class")), tuple(float(v) for v in o["bbox"]), color))
    return boxes


@lru_cache(maxsize=1)
def class_index() -> dict[str, str]:
    """Every spelling of an object class (plural, synonym) -> the procedural engine's class name."""
    from backends.procedural.lexicon import build_class_index

    return build_class_index()


def canonical_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    """GenEval's class names in the procedural engine's names ("tv remote" is its "remote")."""
    index = class_index()
    return {**meta, **{key: [{**c, "class": index.get(c["class"], c["class"])} for c in meta.get(key) or []]
                       for key in ("include", "exclude")}}


class _RuleJudge(Judge):
    """Judges that apply GenEval's rules to boxes found some way; pairs are decided by pass/fail."""

    rubrics = ("geneval",)
    pairwise = True

    def boxes(self, image: Image.Image, metadata: dict[str, Any]) -> tuple[list[geneval.Box] | None, str]:
        raise NotImplementedError

    def _metadata(self, prompt: str, metadata: dict[str, Any] | None) -> tuple[dict | None, str]:
        meta = metadata or geneval.parse_prompt(prompt)
        if meta is None:
            return None, "no GenEval metadata and the prompt does not follow GenEval's templates"
        problem = geneval.check_metadata(meta)
        return (None, problem) if problem else (meta, "")

    def score(self, item: JudgeItem, rubric: str = "geneval") -> Score:
        self.check(rubric)
        meta, problem = self._metadata(item.prompt, item.metadata)
        if meta is None:
            return Score("unscorable", problem=problem)
        try:
            boxes, problem = self.boxes(item.image, meta)
        except BackendError as exc:
            return Score("failed", problem=str(exc), attempts=1)
        if boxes is None:
            return Score("unscorable", problem=problem)
        outcome = geneval.evaluate(geneval.group_by_class(boxes), self.metadata_for(meta))
        passed = 1.0 if outcome.correct else 0.0
        reasoning = "all clauses hold" if outcome.correct else "; ".join(outcome.reasons)
        return Score("ok", {"pass": passed}, {"overall": passed}, reasoning, attempts=1)

    def metadata_for(self, meta: dict[str, Any]) -> dict[str, Any]:
        return meta

    def compare(self, a, b, prompt, sources=(), criterion="overall", metadata=None) -> Verdict:
        sa = self.score(JudgeItem(prompt, a, sources, metadata))
        sb = self.score(JudgeItem(prompt, b, sources, metadata))
        if sa.status != "ok" or sb.status != "ok":
            bad = sa if sa.status != "ok" else sb
            return Verdict(bad.status, problem=bad.problem, attempts=1)
        pa, pb = sa.overall, sb.overall
        winner = "tie" if pa == pb else ("A" if pa > pb else "B")
        return Verdict("ok", winner, f"A: {sa.reasoning}. B: {sb.reasoning}", attempts=1)


class SceneGraphJudge(_RuleJudge):
    """GenEval's rules on the scene graph the procedural engine embeds in its PNGs (no model)."""

    kind = "scene-graph"

    def __init__(self, name: str = SCENE_GRAPH) -> None:
        self.name = name

    def metadata_for(self, meta):
        return canonical_metadata(meta)

    def boxes(self, image, metadata):
        scene = image.info.get("scene_graph")
        scene = read_png_json(image, "scene_graph") if isinstance(scene, str) else scene
        if not isinstance(scene, dict):
            return None, "the image carries no scene graph; use a detector or VLM judge"
        try:
            return scene_boxes(scene), ""
        except (KeyError, TypeError, ValueError) as exc:
            return None, f"the scene graph is malformed ({exc})"


def resolve_judge(backends: Any, name: str) -> Judge:
    """The judge called ``name``: ``scene-graph`` or a configured backend that can judge.

    Raises JudgeError (before any run) for an unknown name or a backend that cannot see images.
    """
    if name == SCENE_GRAPH:
        return SceneGraphJudge()
    try:
        entry = backends.entry(name)
    except BackendError as exc:
        raise JudgeError(f"unknown judge '{name}': {exc.fix or exc}; or use '{SCENE_GRAPH}'") from None
    caps = entry.capabilities
    if Capability.OBJECT_DETECTION in caps:
        from studio.judges.detector import DetectorJudge

        try:
            return DetectorJudge(name, backends.get(name))
        except BackendError as exc:
            raise JudgeError(f"judge '{name}' cannot be loaded: {exc}") from None
    if Capability.VISION_LANGUAGE in caps and entry.options.get("vision") is not False and _sees_images(entry):
        try:
            backend = backends.get(name)
        except BackendError as exc:
            raise JudgeError(f"judge '{name}' cannot be loaded: {exc}") from None
        max_side = int(entry.options.get("max_image_side", API_MAX_SIDE)) if entry.engine == "openai-chat" else None
        return VLMJudge(name, backend, max_side=max_side)
    if Capability.CHAT in caps:
        raise JudgeError(f"'{name}' is a text-only chat backend and cannot see the images it would judge; "
                         "pick a vision-language backend (capability vision-language) as the judge")
    raise JudgeError(f"'{name}' ({entry.engine}) is not a judge: a judge is a vision-language chat backend, "
                     f"an object-detection backend or '{SCENE_GRAPH}'")


def _sees_images(entry: Any) -> bool:
    """A transformers-chat model with ``vision: auto`` sees images when its config has a vision part
    (read from the config file only, no weights); other engines are taken at their word."""
    if entry.engine != "transformers-chat" or entry.options.get("vision", "auto") != "auto":
        return True
    from backends.runtime import local_files_only

    try:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(str(entry.options.get("model") or ""),
                                            local_files_only=local_files_only(entry.options))
    except Exception:  # noqa: BLE001 - a config that cannot be read fails at load time with its own message
        return True
    return getattr(config, "vision_config", None) is not None


def judge_names(backends: Any) -> list[str]:
    """Names usable as judges now (without loading anything)."""
    out = [SCENE_GRAPH]
    for e in backends.entries():
        if Capability.OBJECT_DETECTION in e.capabilities or (
                Capability.VISION_LANGUAGE in e.capabilities and e.options.get("vision") is not False):
            out.append(e.name)
    return out
