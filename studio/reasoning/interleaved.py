"""The interleaved rationale format: prose with ``[image: description]`` and ``[crop: x1, y1, x2, y2]`` parts.

Parsing never fails and loses nothing: every character of the input belongs to exactly one segment
(``"".join(s.raw for s in segments) == text``). Markup that cannot be used — an unclosed bracket,
brackets nested inside a part, an empty description, a part over the image limit — becomes a segment
that carries the original characters plus a reason the UI shows next to it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Literal

SegmentKind = Literal["text", "image", "crop", "malformed"]

#: ``[image:`` / ``[crop:`` openers, case-insensitive, spaces allowed around the keyword
_OPENER = re.compile(r"\[\s*(image|crop)\s*:", re.IGNORECASE)
_FINAL_ANSWER = re.compile(
    r"^[ \t>*_#-]*final answer[ \t*_]*[:：][ \t*_]*(?P<answer>\S.*?)[ \t*_]*$", re.IGNORECASE | re.MULTILINE
)
_CORRECT_ANSWER = re.compile(
    r"\b(?:the )?correct answer is[:\s]+(?P<answer>[^\n]+?)[ \t]*$", re.IGNORECASE | re.MULTILINE
)


@dataclass(frozen=True)
class Segment:
    """One piece of a rationale: prose, an image part, a crop part, or markup that cannot be used."""

    kind: SegmentKind
    raw: str
    #: the description (image), the box text (crop) or the prose (text)
    body: str = ""
    #: why a part is not rendered (malformed markup or over the limit); empty when it is usable
    problem: str = ""

    @property
    def usable(self) -> bool:
        return self.kind in ("image", "crop") and not self.problem


@dataclass
class ParsedRationale:
    """Segments in order plus the issues found, ready to render and to show."""

    text: str
    segments: list[Segment] = field(default_factory=list)

    @property
    def image_parts(self) -> list[Segment]:
        return [s for s in self.segments if s.kind == "image" and s.usable]

    @property
    def crop_parts(self) -> list[Segment]:
        return [s for s in self.segments if s.kind == "crop" and s.usable]

    @property
    def problems(self) -> list[str]:
        return [s.problem for s in self.segments if s.problem]

    def render(self) -> str:
        """The original text, byte for byte."""
        return "".join(s.raw for s in self.segments)

    @property
    def final_answer(self) -> str | None:
        return extract_final_answer(self.text)


def _find_close(text: str, start: int) -> tuple[int, bool]:
    """Index just past the ``]`` closing a part that starts after ``start``; (-1, _) when unclosed.

    The flag says whether another ``[`` opened before the part closed (nested brackets).
    """
    depth = 1
    nested = False
    for i in range(start, len(text)):
        ch = text[i]
        if ch == "[":
            depth += 1
            nested = True
        elif ch == "]":
            depth -= 1
            if depth == 0:
                return i + 1, nested
    return -1, nested


def parse_rationale(text: str, max_images: int | None = None, max_crops: int | None = None) -> ParsedRationale:
    """Split ``text`` into segments; parts past ``max_images``/``max_crops`` are kept but flagged."""
    parsed = ParsedRationale(text=text)
    segments = parsed.segments
    pos = 0
    counts = {"image": 0, "crop": 0}
    limits = {"image": max_images, "crop": max_crops}
    while pos < len(text):
        m = _OPENER.search(text, pos)
        if m is None:
            segments.append(Segment("text", text[pos:], text[pos:]))
            break
        if m.start() > pos:
            segments.append(Segment("text", text[pos : m.start()], text[pos : m.start()]))
        kind = m.group(1).lower()
        end, nested = _find_close(text, m.end())
        if end < 0:
            raw = text[m.start() :]
            segments.append(
                Segment("malformed", raw, raw, f"unclosed [{kind}: …] part (no closing bracket); shown as text")
            )
            break
        raw = text[m.start() : end]
        inner = text[m.end() : end - 1]
        if nested:
            segments.append(
                Segment("malformed", raw, inner, f"brackets nested inside a [{kind}: …] part; shown as text")
            )
        elif not inner.strip():
            segments.append(Segment("malformed", raw, "", f"[{kind}: …] part with an empty description; skipped"))
        else:
            counts[kind] += 1
            limit = limits[kind]
            problem = ""
            if limit is not None and counts[kind] > limit:
                noun = "image" if kind == "image" else "crop"
                problem = f"{noun} part {counts[kind]} is over the limit of {limit}; not rendered"
            segments.append(Segment(kind, raw, " ".join(inner.split()), problem))  # type: ignore[arg-type]
        pos = end
    return parsed


def render_parts(parts: Iterable[tuple[str, str]]) -> str:
    """Markup for ``(kind, body)`` pairs: text verbatim, images as ``[image: body]``."""
    out = []
    for kind, body in parts:
        out.append(body if kind == "text" else f"[{kind}: {body}]")
    return "".join(out)


def extract_final_answer(text: str) -> str | None:
    """The last ``Final answer: …`` line, else the last "the correct answer is …" phrase, else None."""
    hits = list(_FINAL_ANSWER.finditer(text))
    if hits:
        return hits[-1].group("answer").strip()
    hits = list(_CORRECT_ANSWER.finditer(text))
    if hits:
        return hits[-1].group("answer").strip().rstrip(".")
    return None


def strip_final_answer(text: str) -> str:
    """``text`` without its "Final answer: …" lines (the answer is shown and exported on its own)."""
    return _FINAL_ANSWER.sub("", text).strip()


_REFUSAL = re.compile(
    r"^\s*(?:i'?m sorry|sorry,|i am sorry|i can(?:'|no)t|i cannot|i am unable|i'm unable|i won'?t)\b",
    re.IGNORECASE,
)


def looks_like_refusal(text: str) -> bool:
    """True when a reply opens like a refusal ("I'm sorry…", "I can't…") and has no image part."""
    return bool(_REFUSAL.match(text)) and _OPENER.search(text) is None
