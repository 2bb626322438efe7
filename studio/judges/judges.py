"""The judges: what each can score, and one call per item (``score``) or per ordered pair (``compare``).

Judges are named like backends. Any backend of the backends config that reads images (capability
``vision-language``; openai-chat and transformers-chat engines) is a VLM judge under its own name; a
backend of the ``transformers-detector`` engine is a detector judge; ``scene-graph`` is always there
and needs no model. :func:`resolve_judge` refuses a text-only chat backend before any run, saying why.
"""
from __future__ import annotations

from typing import Any, Sequence

from PIL import Image

from backends.base import BackendError, Cancelled, Capability, ChatMessage, ChatRequest
from studio.images import fit_within
from studio.judges import JudgeError
from studio.judges.parsing import Parsed, parse_scores, parse_winner
from studio.judges.base import SCENE_GRAPH, Judge, JudgeItem, Score, Verdict  # noqa: F401 (the judges' API)
from studio.judges.rubrics import RUBRICS, get_rubric, pair_prompt

#: the longest image side an OpenAI-compatible API is sent (larger images are downscaled, with a notice)
API_MAX_SIDE = 2048


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


def resolve_judge(backends: Any, name: str) -> Judge:
    """The judge called ``name``: ``scene-graph`` or a configured backend that can judge.

    Raises JudgeError (before any run) for an unknown name or a backend that cannot see images.
    """
    from studio.judges.rules import DetectorJudge, SceneGraphJudge

    if name == SCENE_GRAPH:
        return SceneGraphJudge()
    try:
        entry = backends.entry(name)
    except BackendError as exc:
        raise JudgeError(f"unknown judge '{name}': {exc.fix or exc}; or use '{SCENE_GRAPH}'") from None
    caps = entry.capabilities
    if Capability.OBJECT_DETECTION in caps:
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
