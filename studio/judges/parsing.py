"""Reading a judge's answer: the JSON object inside it, tolerant of code fences and text around it.

A score answer is ``{"score": [numbers], "reasoning": "..."}``; a pair answer is
``{"winner": "A" | "B" | "tie", "reasoning": "..."}``. Anything else is *unparseable* (kept with its raw
text, never counted); an answer without JSON that reads as a refusal is *refused*.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)
_REFUSAL = re.compile(
    r"\b(i\s+(?:can(?:no|')t|cannot|am\s+unable\s+to|won't|will\s+not)|i'm\s+(?:sorry|unable|not\s+able)"
    r"|unable\s+to\s+(?:help|assist|evaluate)|as\s+an\s+ai\b)", re.I)


@dataclass
class Parsed:
    """``status`` is ok | unparseable | refused; ``value`` the scores (list) or winner ("A"/"B"/"tie")."""

    status: str
    value: Any = None
    reasoning: str = ""
    problem: str = ""
    data: dict[str, Any] = field(default_factory=dict)


def find_json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in ``text``: inside a code fence if there is one, else the first ``{...}``
    that decodes (later candidates are tried when an earlier brace does not start valid JSON)."""
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    decoder = json.JSONDecoder()
    for chunk in candidates:
        start = chunk.find("{")
        while start != -1:
            try:
                obj, _ = decoder.raw_decode(chunk, start)
            except ValueError:
                start = chunk.find("{", start + 1)
                continue
            if isinstance(obj, dict):
                return obj
            start = chunk.find("{", start + 1)
    return None


def _no_json(text: str, what: str) -> Parsed:
    if _REFUSAL.search(text or ""):
        return Parsed("refused", problem="the judge declined to answer")
    return Parsed("unparseable", problem=f"no JSON object with {what} in the answer")


def parse_scores(text: str, n: int, low: float, high: float) -> Parsed:
    """``n`` numbers in [low, high] from ``{"score": [...]}`` (a bare number is a list of one)."""
    obj = find_json_object(text or "")
    if obj is None or "score" not in obj:
        return _no_json(text, '"score"')
    raw = obj["score"]
    values = raw if isinstance(raw, list) else [raw]
    try:
        scores = [float(v) for v in values]
    except (TypeError, ValueError):
        return Parsed("unparseable", problem=f"'score' holds non-numbers: {raw!r}", data=obj)
    if len(scores) != n:
        return Parsed("unparseable", problem=f"expected {n} score(s), got {len(scores)}", data=obj)
    bad = [s for s in scores if not low <= s <= high]
    if bad:
        return Parsed("unparseable", problem=f"scores outside {low:g}–{high:g}: {bad}", data=obj)
    return Parsed("ok", scores, str(obj.get("reasoning") or ""), data=obj)


_WINNERS = {"a": "A", "b": "B", "tie": "tie", "image a": "A", "image b": "B", "draw": "tie", "equal": "tie",
            "both": "tie", "neither": "tie"}


def parse_winner(text: str) -> Parsed:
    """"A", "B" or "tie" from ``{"winner": ...}``."""
    obj = find_json_object(text or "")
    if obj is None or "winner" not in obj:
        return _no_json(text, '"winner"')
    winner = _WINNERS.get(str(obj["winner"]).strip().lower())
    if winner is None:
        return Parsed("unparseable", problem=f"winner must be A, B or tie, got {obj['winner']!r}", data=obj)
    return Parsed("ok", winner, str(obj.get("reasoning") or ""), data=obj)
