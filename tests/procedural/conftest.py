"""Shared helpers for procedural engine tests."""
from __future__ import annotations

import numpy as np
import pytest

from backends.base import EditRequest, GenerationRequest
from backends.procedural import ProceduralBackend


@pytest.fixture(scope="session")
def engine() -> ProceduralBackend:
    return ProceduralBackend(name="procedural")


def generate(engine, prompt: str, seed: int = 0, size: int = 256, **kw):
    return engine.generate(GenerationRequest(prompt=prompt, seed=seed, width=size, height=size, **kw))


def edit(engine, image, instruction: str, seed: int = 0):
    return engine.edit(EditRequest(image=image, instruction=instruction, seed=seed))


def boxes(scene, cls):
    return [o["bbox"] for o in scene["objects"] if o["class"] == cls]


def center(box):
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def region(img, box) -> np.ndarray:
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    return np.asarray(img.convert("RGB"))[y0:y1, x0:x1].astype(int)
