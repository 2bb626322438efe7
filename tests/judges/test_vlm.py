"""A VLM judge against the loopback rule judge: scores, aggregates, bad answers, remote errors, limits."""
from __future__ import annotations

import json
import math

import pytest
from PIL import Image

from studio.judges import JudgeError
from studio.judges.judges import JudgeItem, resolve_judge
from tests.support.openai_server import sent_images


def solid(rgb, size=32):
    return Image.new("RGB", (size, size), rgb)


def test_rubric_scores_and_aggregates_equal_hand_computation(judge_studio, stub):
    judge = resolve_judge(judge_studio.backends, "vlm")
    out, src = solid((204, 102, 51)), solid((0, 0, 255))
    r, g, b = 204 / 255, 102 / 255, 51 / 255

    edit = judge.score(JudgeItem("make it orange", out, [src]), "edit")
    assert edit.status == "ok" and edit.raw.startswith("My rating")
    if_, pres, nat, art = round(10 * r, 2), round(10 * g, 2), round(10 * b, 2), round(10 * r, 2)
    assert edit.scores == {"instruction_following": if_, "preservation": pres, "naturalness": nat, "artifacts": art}
    sc, pq = min(if_, pres), min(nat, art)
    assert edit.aggregate["semantic_consistency"] == sc and edit.aggregate["perceptual_quality"] == pq
    assert edit.overall == pytest.approx(math.sqrt(sc * pq))
    sent = sent_images(stub.requests[-1][1])
    assert [im.getpixel((0, 0)) for im in sent] == [(0, 0, 255), (204, 102, 51)]  # source first, then output

    omni = judge.score(JudgeItem("the cat from image 1 on a sofa", out, [src]), "omnicontext")
    pf, scn = round(10 * r, 2), round(10 * g, 2)
    assert omni.overall == pytest.approx(math.sqrt(pf * scn))

    t2i = judge.score(JudgeItem("an orange square", out), "t2i")
    assert t2i.overall == pytest.approx(math.sqrt(round(10 * r, 2) * min(round(10 * g, 2), round(10 * b, 2))))

    imgedit = judge.score(JudgeItem("make it orange", out, [src]), "imgedit")
    vals = [round(1 + 4 * c, 2) for c in (r, g, b)]
    assert imgedit.overall == pytest.approx(sum(vals) / 3)
    assert judge.usage()["calls"] == 4 and judge.usage()["cost_usd"] > 0


def test_pairs_send_source_then_a_then_b(judge_studio, stub):
    judge = resolve_judge(judge_studio.backends, "vlm")
    v = judge.compare(solid((10, 0, 0)), solid((20, 0, 0)), "make it red", [solid((0, 0, 9))])
    assert v.status == "ok" and v.winner == "B" and v.reasoning == "red 10 vs 20"
    sent = sent_images(stub.requests[-1][1])
    assert [im.getpixel((0, 0)) for im in sent] == [(0, 0, 9), (10, 0, 0), (20, 0, 0)]


def test_unparseable_and_refusing_answers_are_kept_and_never_counted(judge_studio, stub):
    judge = resolve_judge(judge_studio.backends, "vlm")
    for _ in range(3):
        stub.enqueue("I think the image is nice, 7 out of 10 maybe.")
    s = judge.score(JudgeItem("a cat", solid((10, 10, 10))), "t2i")
    assert s.status == "unparseable" and s.overall is None and s.attempts == 3  # bounded: 1 + 2 retries
    assert s.raw == "I think the image is nice, 7 out of 10 maybe."
    for _ in range(3):
        stub.enqueue("I'm sorry, but I can't help with evaluating this image.")
    s = judge.score(JudgeItem("a cat", solid((10, 10, 10))), "t2i")
    assert s.status == "refused" and s.overall is None and "sorry" in s.raw
    stub.enqueue('{"score": [11, 3, 4], "reasoning": "x"}')  # out of range, then a good answer
    s = judge.score(JudgeItem("a cat", solid((255, 0, 0))), "t2i")
    assert s.status == "ok" and s.attempts == 2 and s.scores["prompt_fidelity"] == 10.0


def test_rate_limits_retry_and_server_errors_end_as_failed_items(judge_studio, stub):
    judge = resolve_judge(judge_studio.backends, "vlm")
    stub.enqueue(status=429, headers={"retry-after-ms": "10"})
    stub.enqueue(status=500)
    s = judge.score(JudgeItem("a cat", solid((255, 0, 0))), "t2i")
    assert s.status == "ok"
    for _ in range(3):  # max_retries 2: three attempts, all failing
        stub.enqueue(status=500)
    v = judge.compare(solid((1, 1, 1)), solid((2, 2, 2)), "a cat")
    assert v.status == "failed" and v.winner is None and "server error 500" in v.problem


def test_text_only_backend_is_refused_before_the_run(judge_studio, stub, cli, tmp_path, capsys):
    with pytest.raises(JudgeError, match="text-only chat backend"):
        resolve_judge(judge_studio.backends, "text-only")
    with pytest.raises(JudgeError, match="not a judge"):
        resolve_judge(judge_studio.backends, "painter")
    with pytest.raises(JudgeError, match="unknown judge"):
        resolve_judge(judge_studio.backends, "nope")
    solid((1, 2, 3)).save(tmp_path / "a.png")
    (tmp_path / "m.jsonl").write_text(json.dumps({"prompt": "p", "image": "a.png"}) + "\n")
    assert cli(["judge", "score", str(tmp_path / "m.jsonl"), "--judge", "text-only", "--rubric", "t2i"]) == 2
    assert "cannot see the images" in capsys.readouterr().err
    assert stub.requests == []


def test_images_larger_than_the_api_allows_are_downscaled_and_said(judge_studio, stub):
    judge = resolve_judge(judge_studio.backends, "small-api")
    s = judge.score(JudgeItem("a cat", solid((255, 0, 0), size=200)), "t2i")
    assert s.status == "ok" and any("resized to 64×64" in n for n in s.notices)
    assert sent_images(stub.requests[-1][1])[0].size == (64, 64)


@pytest.mark.slow
def test_local_transformers_models_as_judges(tmp_path):
    """A text-only local model is refused before the run; a local VLM is asked with the images and its
    (random-weight) answer is kept unparsed, never counted."""
    from backends.registry import BackendEntry, BackendRegistry
    from backends.base import Capability
    from tests.support.tiny_models import build_tiny_chat_lm, build_tiny_llava

    caps = frozenset({Capability.CHAT, Capability.VISION_LANGUAGE})
    lm, vlm = build_tiny_chat_lm(tmp_path / "lm"), build_tiny_llava(tmp_path / "vlm")
    reg = BackendRegistry({
        "lm": BackendEntry("lm", "transformers-chat", "lm", {"model": str(lm), "device": "cpu"}, caps),
        "vlm": BackendEntry("vlm", "transformers-chat", "vlm", {"model": str(vlm), "device": "cpu",
                                                               "max_new_tokens": 8}, caps),
    })
    with pytest.raises(JudgeError, match="text-only"):
        resolve_judge(reg, "lm")
    judge = resolve_judge(reg, "vlm")
    judge.max_tokens = 8
    s = judge.score(JudgeItem("a red square", solid((255, 0, 0))), "t2i")
    assert s.status in ("unparseable", "refused") and s.overall is None and s.attempts == 3
    reg.close()


def test_judge_list_says_what_each_judge_can_score(cli, stub, capsys):
    assert cli(["judge", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == {"scene-graph", "vlm", "small-api"}  # text-only and the painter are not judges
    assert rows["scene-graph"]["rubrics"] == ["geneval"] and rows["scene-graph"]["kind"] == "scene-graph"
    assert rows["vlm"]["kind"] == "vlm" and set(rows["vlm"]["rubrics"]) == {"omnicontext", "edit", "t2i", "imgedit",
                                                                             "geneval"}
    assert stub.requests == []
