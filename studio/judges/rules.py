"""Judges that apply GenEval's rules to boxes: read from the procedural engine's scene graph, or found
by an object-detection backend in any image.

Detector boxes come from the backend most certain first (GenEval checks counts, colours and positions on
the most certain objects). Colour is the GenEval colour nearest to the median pixel of the box's central
half — a plain stand-in for GenEval's CLIP colour classifier, which needs weights the studio does not
ship; the reasons name the colours found so a wrong call is visible.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Sequence

from PIL import Image

from backends.base import BackendError
from studio.images import read_png_json
from studio.judges import geneval
from studio.judges.base import SCENE_GRAPH, Judge, JudgeItem, Score, Verdict


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


def box_color(image: Image.Image, box: tuple[float, float, float, float]) -> str | None:
    import numpy as np

    x0, y0, x1, y1 = (max(0.0, box[0]), max(0.0, box[1]), min(float(image.width), box[2]),
                      min(float(image.height), box[3]))  # detections may reach past the canvas
    w, h = x1 - x0, y1 - y0
    if w < 1 or h < 1:
        return None
    crop = image.convert("RGB").crop((int(x0 + w / 4), int(y0 + h / 4), max(int(x0 + w / 4) + 1, int(x1 - w / 4)),
                                      max(int(y0 + h / 4) + 1, int(y1 - h / 4))))
    return _nearest_color(np.median(np.asarray(crop).reshape(-1, 3), axis=0).tolist())


class DetectorJudge(_RuleJudge):
    kind = "detector"

    def __init__(self, name: str, backend: Any) -> None:
        self.name = name
        self.backend = backend

    def metadata_for(self, meta: dict[str, Any]) -> dict[str, Any]:
        return canonical_metadata(meta)

    def boxes(self, image, metadata):
        index = class_index()
        labels = [c["class"] for key in ("include", "exclude") for c in metadata.get(key) or []]
        found = self.backend.detect(image, labels)
        return [geneval.Box(index.get(d.label, d.label), d.box, box_color(image, d.box)) for d in found], ""
