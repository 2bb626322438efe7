"""GenEval's rules, the scene-graph judge on GenEval-template prompts, parsing and geometric means."""
from __future__ import annotations

import json
import math
import random

import pytest

from backends.base import GenerationRequest
from backends.procedural import ProceduralBackend
from studio.judges import geneval
from studio.judges.geneval import Box, evaluate, relative_position
from studio.judges.judges import JudgeItem
from studio.judges.rules import SceneGraphJudge
from studio.judges.parsing import parse_scores, parse_winner
from studio.judges.rubrics import RUBRICS, geometric_mean


def test_relative_position_uses_the_tenth_of_summed_sizes_threshold():
    b = Box("cat", (0, 0, 10, 10))
    # centres 12 apart on x, summed widths 20 -> 2 px margin: 10 px left after the threshold
    assert relative_position(Box("dog", (12, 0, 22, 10)), b) == {"right of"}
    # 1.5 px apart: inside 0.1 * 20 = 2 px -> no relation at all
    assert relative_position(Box("dog", (1.5, 0, 11.5, 10)), b) == set()
    # diagonal: both parts kept, both over half of the offset's length
    assert relative_position(Box("dog", (30, 30, 40, 40)), b) == {"right of", "below"}
    # mostly right, a little lower: only "right of"
    assert relative_position(Box("dog", (40, 4, 50, 14)), b) == {"right of"}


def test_evaluate_include_exclude_colour_position():
    meta = geneval.item("counting", "cat", 2)
    two = {"cat": [Box("cat", (0, 0, 1, 1)), Box("cat", (5, 5, 6, 6))]}
    assert meta["prompt"] == "a photo of two cats" and evaluate(two, meta).correct
    three = {"cat": two["cat"] + [Box("cat", (9, 9, 10, 10))]}
    assert not evaluate(three, meta).correct and "expected cat<3, found 3" in evaluate(three, meta).reasons
    meta = geneval.item("colors", "car", "pink")
    assert evaluate({"car": [Box("car", (0, 0, 1, 1), "pink")]}, meta).correct
    assert not evaluate({"car": [Box("car", (0, 0, 1, 1), "red")]}, meta).correct
    meta = geneval.item("position", "dog", "right of", "teddy bear")
    assert meta["include"][1]["position"] == ["right of", 0]
    ok = {"teddy bear": [Box("teddy bear", (0, 0, 10, 10))], "dog": [Box("dog", (30, 0, 40, 10))]}
    assert evaluate(ok, meta).correct
    swapped = {"teddy bear": [Box("teddy bear", (30, 0, 40, 10))], "dog": [Box("dog", (0, 0, 10, 10))]}
    assert not evaluate(swapped, meta).correct
    assert not evaluate({"dog": [Box("dog", (0, 0, 1, 1))]}, meta).correct  # target missing


def test_template_prompt_set_has_geneval_shape_and_parses_back():
    prompts = geneval.template_prompts(seed=3)
    assert len(prompts) == 553
    assert {t: sum(p["tag"] == t for p in prompts) for t in geneval.TAGS} == geneval.TAG_COUNTS
    for p in prompts:
        back = geneval.parse_prompt(p["prompt"])
        assert back["tag"] == p["tag"] and back["include"] == p["include"] and back.get("exclude") == p.get("exclude")


def _wrong(meta, rng):
    """Metadata the image should fail: one more object, another colour, or the opposite relation."""
    meta = json.loads(json.dumps(meta))
    first = meta["include"][-1]
    if "position" in first:
        opposite = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}
        first["position"][0] = opposite[first["position"][0]]
    elif "color" in first:
        first["color"] = rng.choice([c for c in geneval.COLORS if c != first["color"]])
    else:
        first["count"] += 1
    return meta


def test_scene_graph_judge_agrees_with_geneval_metadata():
    rng = random.Random(0)
    prompts = geneval.template_prompts(seed=1)
    sample = [p for t in geneval.TAGS for p in [q for q in prompts if q["tag"] == t][:12]]
    engine, judge = ProceduralBackend(name="procedural"), SceneGraphJudge()
    for meta in sample:
        image = engine.generate(GenerationRequest(prompt=meta["prompt"], width=192, height=192, seed=2)).image
        good = judge.score(JudgeItem(meta["prompt"], image, metadata=meta), "geneval")
        assert good.status == "ok" and good.overall == 1.0, (meta["prompt"], good.reasoning)
        from_prompt = judge.score(JudgeItem(meta["prompt"], image), "geneval")  # metadata parsed from the prompt
        assert from_prompt.overall == 1.0
        bad = judge.score(JudgeItem(meta["prompt"], image, metadata=_wrong(meta, rng)), "geneval")
        assert bad.status == "ok" and bad.overall == 0.0 and bad.reasoning


def test_scene_graph_judge_says_what_it_cannot_score():
    from PIL import Image

    judge = SceneGraphJudge()
    plain = Image.new("RGB", (8, 8))
    assert judge.score(JudgeItem("a photo of a cat", plain), "geneval").status == "unscorable"
    assert "GenEval's templates" in judge.score(JudgeItem("a sunset", plain), "geneval").problem
    with pytest.raises(ValueError, match="cannot score the rubric 'edit'"):
        judge.check("edit")


@pytest.mark.parametrize("text,status,value", [
    ('{"score": [7, 8], "reasoning": "ok"}', "ok", [7.0, 8.0]),
    ('Here you go:\n```json\n{"score": [7, 8.5], "reasoning": "ok"}\n```', "ok", [7.0, 8.5]),
    ('I rate {it} as {"score": ["6", 9], "reasoning": "x"} overall.', "ok", [6.0, 9.0]),
    ('{"score": [7], "reasoning": "one"}', "unparseable", None),
    ('{"score": [7, 12]}', "unparseable", None),
    ("seven and eight", "unparseable", None),
    ("I cannot evaluate images of people.", "refused", None),
])
def test_parse_scores(text, status, value):
    p = parse_scores(text, 2, 0, 10)
    assert p.status == status and (value is None or p.value == value)


def test_parse_winner_and_geometric_means():
    assert parse_winner('```\n{"winner": "b", "reasoning": "sharper"}\n```').value == "B"
    assert parse_winner('{"winner": "Tie"}').value == "tie"
    assert parse_winner('{"winner": "both bad"}').status == "unparseable"
    assert geometric_mean([4, 9]) == pytest.approx(6.0)
    assert RUBRICS["omnicontext"].combine([4, 9])["overall"] == pytest.approx(6.0)
    edit = RUBRICS["edit"].combine([8, 5, 9, 4])
    assert edit == {"semantic_consistency": 5, "perceptual_quality": 4, "overall": pytest.approx(math.sqrt(20))}
