"""Edit instructions -> a list of operations (add, remove, replace, recolor, resize, move, extract,
text, background, style, global adjustments), split on "and", commas, "then" and semicolons."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from backends.procedural import lexicon as lx
from backends.procedural.parser import extract_quotes

_CLASS_INDEX = lx.build_class_index()
_SINGULAR = {c for c in lx.COCO_CLASSES} | set(lx.SHAPES) | set(lx.EXTRA_CLASSES) | {
    s for _, (syns, _g) in lx.COCO_CLASSES.items() for s in syns} | {s for syns in lx.SHAPES.values() for s in syns} | {
    s for _, (syns, _g) in lx.EXTRA_CLASSES.items() for s in syns}
_PROTECTED = ["black and white", "rock and roll"]
_SPLIT_RE = re.compile(r"\s*(?:;|,\s*and then\b|,\s*then\b|,\s*and\b|\band then\b|\bthen\b|,|\.(?:\s+|$)|\band\b)\s*")
SELECTORS = {
    "left": "left", "leftmost": "left", "right": "right", "rightmost": "right", "top": "top", "topmost": "top",
    "upper": "top", "bottom": "bottom", "lower": "bottom", "bottommost": "bottom", "first": "first",
    "second": "second", "third": "third", "last": "last", "biggest": "biggest", "largest": "biggest",
    "smallest": "smallest", "middle": "middle", "center": "middle", "centre": "middle",
}
VERBS: list[tuple[str, str]] = [
    (r"get rid of|take away|take out|delete|remove|erase|eliminate|drop", "remove"),
    (r"replace|swap|substitute|exchange", "replace"),
    (r"cut out|crop out|extract|isolate|keep only|show only|segment", "extract"),
    (r"add|insert|include|draw|put|place", "add"),
    (r"write|type|caption|label", "write"),
    (r"move|shift|drag|slide|push|relocate", "move"),
    (r"enlarge|grow|scale up|magnify|expand", "enlarge"),
    (r"shrink|scale down|reduce|minimize", "shrink"),
    (r"recolou?r|paint|colou?r|dye|tint", "paint"),
    (r"change|turn|transform|convert|make|set|render|switch|apply|give|stylize|use", "change"),
    (r"brighten|lighten", "brighten"), (r"darken|dim", "darken"), (r"desaturate", "desaturate"),
    (r"crop|trim", "crop"), (r"extend|outpaint|widen|zoom out|pad", "extend"),
    (r"flip|mirror", "flip"), (r"rotate|turn around", "rotate"),
]
_VERB_RE = [(re.compile(rf"^(?:please\s+)?(?:{pat})\b"), name) for pat, name in VERBS]


@dataclass
class Target:
    """An object (or text) the instruction points at."""

    cls: str | None = None
    color: str | None = None
    plural: bool = False
    every: bool = False
    selector: str | None = None
    pronoun: bool = False
    phrase: str = ""


@dataclass
class EditOp:
    """One sub-operation; ``kind`` says which, the other fields hold its arguments."""

    kind: str
    phrase: str
    target: Target | None = None
    args: dict[str, Any] = field(default_factory=dict)


def _protect(text: str) -> str:
    for p in _PROTECTED:
        text = re.sub(re.escape(p), p.replace(" and ", "_AND_"), text, flags=re.I)
    return text


def split_instruction(instruction: str) -> tuple[list[str], list[str]]:
    """Sub-instruction chunks (quoted strings as ``__textN__``) and the quoted strings."""
    text, quoted = extract_quotes(instruction)
    chunks = [c.replace("_AND_", " and ").strip() for c in _SPLIT_RE.split(_protect(text))]
    return [c for c in chunks if c and c.strip(" ,.;")], quoted


def find_verb(chunk: str) -> tuple[str | None, str]:
    """(verb family, rest of the chunk) for a chunk that starts with a known verb."""
    low = chunk.lower().strip()
    for rx, name in _VERB_RE:
        m = rx.match(low)
        if m:
            return name, low[m.end():].strip()
    return None, low


def parse_target(text: str) -> Target:
    """The object a phrase names: class, color, plural/all, and a selector like 'left' or 'second'."""
    words = re.findall(r"[\w\-]+", text.lower())
    t = Target(phrase=text.strip())
    if any(w in ("it", "them", "everything", "image", "picture", "photo", "scene") for w in words) and not any(
        " ".join(words[i:i + n]) in _CLASS_INDEX for n in (1, 2, 3) for i in range(len(words))):
        t.pronoun = True
        return t
    t.every = any(w in ("all", "every", "each", "both") for w in words)
    for i in range(len(words)):
        for n in (3, 2, 1):
            phrase = " ".join(words[i:i + n])
            if len(words[i:i + n]) == n and phrase in _CLASS_INDEX and t.cls is None:
                if phrase == "orange" and i + 1 < len(words) and any(
                        " ".join(words[i + 1:i + 1 + k]) in _CLASS_INDEX for k in (1, 2, 3)):
                    continue
                t.cls = _CLASS_INDEX[phrase]
                t.plural = phrase not in _SINGULAR or phrase in ("people",)
        w = words[i]
        if t.color is None and (w in lx.COLORS or w in lx.COLOR_SYNONYMS):
            nxt = " ".join(words[i + 1:i + 2])
            if not (w == "orange" and t.cls is None and nxt not in _CLASS_INDEX and i == len(words) - 1):
                t.color = lx.COLOR_SYNONYMS.get(w, w)
        if w in SELECTORS and t.selector is None:
            t.selector = SELECTORS[w]
    if t.cls == "orange" and t.color == "orange":
        t.color = None
    return t


def text_refs(chunk: str, quoted: list[str]) -> list[str]:
    """The quoted strings referenced in a chunk, in order."""
    return [quoted[int(m)] for m in re.findall(r"__text(\d+)__", chunk)]


def mentions_text(rest: str) -> bool:
    return bool(re.search(r"\b(text|words?|caption|title|label|lettering|letters|writing|sign text)\b|__text\d+__", rest))


def first_of(table: dict[str, str], text: str) -> str | None:
    """The value of the longest table phrase found in text (word-bounded)."""
    best = None
    for phrase, value in table.items():
        if re.search(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", text):
            if best is None or len(phrase) > len(best[0]):
                best = (phrase, value)
    return best[1] if best else None


def color_in(text: str) -> str | None:
    for w in re.findall(r"[a-z]+", text):
        if w in lx.COLORS:
            return w
        if w in lx.COLOR_SYNONYMS:
            return lx.COLOR_SYNONYMS[w]
    return None


def size_factor(text: str) -> float | None:
    """How much bigger/smaller the phrase asks for (None if it names no size change)."""
    if re.search(r"\b(twice|double|2x)\b", text):
        return 2.0
    if re.search(r"\b(half|halve)\b", text):
        return 0.5
    if re.search(r"\b(much|a lot) (bigger|larger)\b|\bhuge\b|\bgiant\b", text):
        return 1.8
    if re.search(r"\b(much|a lot) smaller\b|\btiny\b", text):
        return 0.45
    if re.search(r"\b(bigger|larger|taller|big|large|enlarged?)\b", text):
        return 1.4
    if re.search(r"\b(smaller|shorter|small|little|shrunk|shrink)\b", text):
        return 0.7
    return None
