"""GenEval's rules (Ghosh et al., 2023) on a list of objects with boxes, and its prompt templates.

A GenEval item's metadata is ``{"tag", "prompt", "include": [{"class", "count", "color"?, "position"?}],
"exclude": [{"class", "count"}]}``. The image is correct when every include clause holds (at least
``count`` objects of the class; the first ``count`` of them have the colour; each of them stands in the
named relation to every object the referenced earlier clause matched) and no exclude clause does (fewer
than ``count`` objects of the class). A relation is read from box centres after shrinking the offset by
0.1 of the two boxes' summed sizes on each axis (GenEval's position threshold), then normalising by the
raw offset's length: "left of" when the x part is below -0.5, "right of" above 0.5, likewise "above" and
"below" on y.

The objects come from a scene graph (the procedural engine's) or a detector; this module does not care.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

POSITION_THRESHOLD = 0.1
TAGS = ("single_object", "two_object", "counting", "colors", "position", "color_attr")
COLORS = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white")
RELATIONS = ("left of", "right of", "above", "below")
#: GenEval's 80 object names (COCO's, with three renamed for prompts)
OBJECTS = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "computer mouse", "tv remote",
    "computer keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book",
    "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush",
)
#: how many prompts of each tag the public benchmark has (553 in all)
TAG_COUNTS = {"single_object": 80, "two_object": 99, "counting": 80, "colors": 94, "position": 100,
              "color_attr": 100}
NUMBERS = {2: "two", 3: "three", 4: "four"}


@dataclass(frozen=True)
class Box:
    """One found object: its class, box [x0, y0, x1, y1] and colour name (None when unknown)."""

    cls: str
    bbox: tuple[float, float, float, float]
    color: str | None = None


@dataclass
class Outcome:
    correct: bool
    reasons: list[str]


def relative_position(a: Box, b: Box, threshold: float = POSITION_THRESHOLD) -> set[str]:
    """Where ``a`` lies relative to ``b`` (a set of "left of", "right of", "above", "below")."""
    ax0, ay0, ax1, ay1 = a.bbox
    bx0, by0, bx1, by1 = b.bbox
    offset = ((ax0 + ax1) / 2 - (bx0 + bx1) / 2, (ay0 + ay1) / 2 - (by0 + by1) / 2)
    dims = (abs(ax1 - ax0) + abs(bx1 - bx0), abs(ay1 - ay0) + abs(by1 - by0))
    revised = [math.copysign(max(abs(o) - threshold * d, 0.0), o) for o, d in zip(offset, dims)]
    if all(abs(r) < 1e-3 for r in revised):
        return set()
    norm = math.hypot(*offset)
    dx, dy = revised[0] / norm, revised[1] / norm
    out = set()
    if dx < -0.5:
        out.add("left of")
    if dx > 0.5:
        out.add("right of")
    if dy < -0.5:
        out.add("above")
    if dy > 0.5:
        out.add("below")
    return out


def evaluate(objects: Mapping[str, Sequence[Box]], metadata: Mapping[str, Any]) -> Outcome:
    """GenEval's verdict for one image whose objects are grouped by class (most certain first)."""
    correct, reasons = True, []
    matched: list[Sequence[Box] | None] = []
    for req in metadata.get("include", []):
        cls, count = req["class"], int(req["count"])
        found = list(objects.get(cls, []))[:count]
        ok = True
        if len(found) < count:
            ok = False
            reasons.append(f"expected {cls}>={count}, found {len(found)}")
        else:
            if "color" in req:
                hits = sum(1 for o in found if o.color == req["color"])
                if hits < count:
                    ok = False
                    seen = ", ".join(o.color or "unknown" for o in found)
                    reasons.append(f"expected {req['color']} {cls}>={count}, found colours: {seen}")
            if "position" in req and ok:
                rel, target = req["position"][0], int(req["position"][1])
                targets = matched[target] if 0 <= target < len(matched) else None
                if targets is None:
                    ok = False
                    reasons.append(f"no target for {cls} to be {rel}")
                else:
                    for obj in found:
                        wrong = next((t for t in targets if rel not in relative_position(obj, t)), None)
                        if wrong is not None:
                            got = sorted(relative_position(obj, wrong)) or ["overlapping"]
                            ok = False
                            reasons.append(f"expected {cls} {rel} target, found {' and '.join(got)}")
                            break
        correct = correct and ok
        matched.append(found if ok else None)
    for req in metadata.get("exclude", []):
        cls, count = req["class"], int(req["count"])
        n = len(objects.get(cls, []))
        if n >= count:
            correct = False
            reasons.append(f"expected {cls}<{count}, found {n}")
    return Outcome(correct, reasons)


def check_metadata(meta: Any) -> str | None:
    """Why ``meta`` is not GenEval metadata, or None when it is."""
    if not isinstance(meta, dict) or not isinstance(meta.get("include"), list) or not meta["include"]:
        return "GenEval metadata needs a non-empty 'include' list"
    for k, req in enumerate(list(meta["include"]) + list(meta.get("exclude") or [])):
        if not isinstance(req, dict) or not isinstance(req.get("class"), str):
            return f"clause {k} has no 'class'"
        if not isinstance(req.get("count"), int) or req["count"] < 1:
            return f"clause {k} needs a positive integer 'count'"
        pos = req.get("position")
        if pos is not None and (not isinstance(pos, list) or len(pos) != 2 or pos[0] not in RELATIONS
                                or not isinstance(pos[1], int) or not 0 <= pos[1] < k):
            return f"clause {k}: 'position' must be [relation, index of an earlier clause]"
    return None


# -- prompts ---------------------------------------------------------------------------------------
def _a(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def _plural(word: str) -> str:
    from backends.procedural.lexicon import plural_forms

    return plural_forms(word)[0]


def item(tag: str, *parts: Any) -> dict[str, Any]:
    """One GenEval prompt with its metadata, built from the public templates."""
    if tag == "single_object":
        (obj,) = parts
        return {"tag": tag, "include": [{"class": obj, "count": 1}], "prompt": f"a photo of {_a(obj)}"}
    if tag == "two_object":
        a, b = parts
        return {"tag": tag, "include": [{"class": a, "count": 1}, {"class": b, "count": 1}],
                "prompt": f"a photo of {_a(a)} and {_a(b)}"}
    if tag == "counting":
        obj, n = parts
        return {"tag": tag, "include": [{"class": obj, "count": n}], "exclude": [{"class": obj, "count": n + 1}],
                "prompt": f"a photo of {NUMBERS[n]} {_plural(obj)}"}
    if tag == "colors":
        obj, color = parts
        return {"tag": tag, "include": [{"class": obj, "count": 1, "color": color}],
                "prompt": f"a photo of {_a(color)} {obj}"}
    if tag == "position":
        a, rel, b = parts
        return {"tag": tag, "include": [{"class": b, "count": 1}, {"class": a, "count": 1, "position": [rel, 0]}],
                "prompt": f"a photo of {_a(a)} {rel} {_a(b)}"}
    if tag == "color_attr":
        a, ca, b, cb = parts
        return {"tag": tag, "include": [{"class": a, "count": 1, "color": ca}, {"class": b, "count": 1, "color": cb}],
                "prompt": f"a photo of {_a(ca)} {a} and {_a(cb)} {b}"}
    raise ValueError(f"unknown GenEval tag {tag!r}; known: {', '.join(TAGS)}")


def template_prompts(seed: int = 0, counts: Mapping[str, int] | None = None) -> list[dict[str, Any]]:
    """A GenEval-shaped prompt set (553 prompts by default) drawn from the templates with ``seed``."""
    rng = random.Random(seed)
    counts = dict(TAG_COUNTS if counts is None else counts)
    out: list[dict[str, Any]] = []

    def two() -> tuple[str, str]:
        a, b = rng.sample(OBJECTS, 2)
        return a, b

    for k in range(counts.get("single_object", 0)):
        out.append(item("single_object", OBJECTS[k % len(OBJECTS)]))
    for _ in range(counts.get("two_object", 0)):
        out.append(item("two_object", *two()))
    for _ in range(counts.get("counting", 0)):
        out.append(item("counting", rng.choice(OBJECTS), rng.choice(tuple(NUMBERS))))
    for _ in range(counts.get("colors", 0)):
        out.append(item("colors", rng.choice(OBJECTS), rng.choice(COLORS)))
    for _ in range(counts.get("position", 0)):
        a, b = two()
        out.append(item("position", a, rng.choice(RELATIONS), b))
    for _ in range(counts.get("color_attr", 0)):
        a, b = two()
        out.append(item("color_attr", a, rng.choice(COLORS), b, rng.choice(COLORS)))
    return out


def group_by_class(boxes: Iterable[Box]) -> dict[str, list[Box]]:
    out: dict[str, list[Box]] = {}
    for b in boxes:
        out.setdefault(b.cls, []).append(b)
    return out


def parse_prompt(prompt: str) -> dict[str, Any] | None:
    """GenEval metadata for a prompt written in one of the templates above, else None."""
    import re

    objs = "|".join(sorted((re.escape(o) for o in OBJECTS), key=len, reverse=True))
    plurals = "|".join(sorted((re.escape(_plural(o)) for o in OBJECTS), key=len, reverse=True))
    cols = "|".join(COLORS)
    rels = "|".join(RELATIONS)
    art = r"an? "
    text = " ".join(prompt.strip().lower().rstrip(".").split())
    singular = {_plural(o): o for o in OBJECTS}
    words = {v: k for k, v in NUMBERS.items()}
    patterns = [
        ("color_attr", rf"a photo of {art}({cols}) ({objs}) and {art}({cols}) ({objs})",
         lambda m: (m[2], m[1], m[4], m[3])),
        ("position", rf"a photo of {art}({objs}) ({rels}) {art}({objs})", lambda m: (m[1], m[2], m[3])),
        ("colors", rf"a photo of {art}({cols}) ({objs})", lambda m: (m[2], m[1])),
        ("two_object", rf"a photo of {art}({objs}) and {art}({objs})", lambda m: (m[1], m[2])),
        ("counting", rf"a photo of (two|three|four) ({plurals})", lambda m: (singular[m[2]], words[m[1]])),
        ("single_object", rf"a photo of {art}({objs})", lambda m: (m[1],)),
    ]
    for tag, pattern, parts in patterns:
        m = re.fullmatch(pattern, text)
        if m:
            meta = item(tag, *parts(m))
            meta["prompt"] = prompt
            return meta
    return None
