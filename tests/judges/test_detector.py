"""The detector judge: GenEval's rules on detections, with a scripted detector and a tiny random OWLv2."""
from __future__ import annotations

import pytest
from PIL import Image, ImageDraw

from backends.base import Capability
from backends.registry import BackendEntry, BackendRegistry
from studio.judges import geneval
from studio.judges.judges import JudgeItem, resolve_judge


def registry(**entries):
    return BackendRegistry({n: BackendEntry(n, e, n, o, frozenset(Capability(c) for c in caps))
                            for n, (e, o, caps) in entries.items()})


def picture():
    """A blue box on the left, a red box on the right."""
    img = Image.new("RGB", (200, 100), "white")
    d = ImageDraw.Draw(img)
    d.rectangle((10, 20, 70, 80), fill=(35, 90, 220))
    d.rectangle((130, 20, 190, 80), fill=(220, 30, 35))
    return img


def test_detections_checked_with_geneval_rules_and_colours_from_pixels():
    boxes = [["car", 0.9, 10, 20, 70, 80], ["tv remote", 0.8, 130, 20, 190, 80]]
    reg = registry(det=("tests.support.fake_backends:ScriptedDetector", {"boxes": boxes}, ["object-detection"]))
    judge = resolve_judge(reg, "det")
    assert judge.describe() == {"name": "det", "kind": "detector", "rubrics": ["geneval"], "pairwise": True}
    img = picture()

    def verdict(meta):
        return judge.score(JudgeItem(meta["prompt"], img, metadata=meta), "geneval")

    assert verdict(geneval.item("color_attr", "car", "blue", "tv remote", "red")).overall == 1.0
    wrong = verdict(geneval.item("colors", "car", "red"))
    assert wrong.overall == 0.0 and "found colours: blue" in wrong.reasoning
    assert verdict(geneval.item("position", "tv remote", "right of", "car")).overall == 1.0
    assert verdict(geneval.item("position", "tv remote", "left of", "car")).overall == 0.0
    assert verdict(geneval.item("counting", "car", 2)).overall == 0.0
    # the same prompt as text, parsed with GenEval's templates
    assert judge.score(JudgeItem("a photo of a blue car and a red tv remote", img), "geneval").overall == 1.0


@pytest.mark.slow
def test_tiny_random_owlv2_runs_as_a_judge(tmp_path):
    from tests.support.tiny_models import build_tiny_owlv2

    path = build_tiny_owlv2(tmp_path / "owl")
    reg = registry(owl=("transformers-detector", {"model": str(path), "device": "cpu", "threshold": 0.3},
                        ["object-detection"]))
    judge = resolve_judge(reg, "owl")
    meta = geneval.item("two_object", "cat", "dog")
    score = judge.score(JudgeItem(meta["prompt"], picture(), metadata=meta), "geneval")
    assert score.status == "ok" and score.overall in (0.0, 1.0) and score.reasoning
    found = reg.get("owl").detect(picture(), ["cat", "dog"])
    assert found == sorted(found, key=lambda d: -d.score)
    assert all(d.label in ("cat", "dog") and d.score >= 0.3 for d in found)
    assert sum(d.label == "cat" for d in found) <= 16


@pytest.mark.slow
def test_tiny_random_detr_labels_are_read_in_geneval_names(tmp_path):
    from tests.support.tiny_models import build_tiny_detr

    path = build_tiny_detr(tmp_path / "detr")
    reg = registry(detr=("transformers-detector", {"model": str(path), "device": "cpu", "threshold": 0.0,
                                                    "max_objects": 4}, ["object-detection"]))
    found = reg.get("detr").detect(picture(), ["tv remote"])
    assert found and {d.label for d in found} <= {"cat", "dog", "remote"}
    assert all(sum(d.label == name for d in found) <= 4 for name in ("cat", "dog", "remote"))
    judge = resolve_judge(reg, "detr")
    remotes = sum(d.label == "remote" for d in found)
    meta = geneval.item("single_object", "tv remote")  # GenEval's "tv remote" is COCO's "remote"
    assert judge.score(JudgeItem(meta["prompt"], picture(), metadata=meta), "geneval").overall == float(remotes >= 1)
