"""The detector judge: GenEval's rules on what an object-detection backend finds in any image.

Boxes come from the backend most certain first (GenEval checks counts, colours and positions on the
most certain objects). Colour is the GenEval colour nearest to the median pixel of the box's central
half — a plain stand-in for GenEval's CLIP colour classifier, which needs weights the studio does not
ship; the reasons name the colours found so a wrong call is visible.
"""
from __future__ import annotations

from typing import Any

from PIL import Image

from studio.judges import geneval
from studio.judges.judges import _RuleJudge, _nearest_color, canonical_metadata, class_index


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
