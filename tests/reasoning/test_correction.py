"""Image correction: the loop stops when the critic finds no mismatch, and never runs past its bound."""
from __future__ import annotations

from studio.reasoning.correction import read_critique
from studio.reasoning.examples import get_example
from tests.reasoning.helpers import chat_bodies, request_for, run_all

ZEBRAS = get_example("zebras")
MISMATCH = ZEBRAS.critiques[0]


def corrected(n: int) -> str:
    return f"VERDICT: MISMATCH\nthe stripes are wrong.\n[image: corrected description {n}]"


def test_read_critique():
    assert read_critique("VERDICT: MATCH") == ("match", None)
    assert read_critique("**Verdict:** no mismatch") == ("match", None)
    verdict, desc = read_critique(MISMATCH)
    assert verdict == "mismatch" and desc.startswith("two zebras in a grassy field")
    assert read_critique("The image fully meets the requirement.") == ("match", None)
    assert read_critique("Some things look off.") == ("unclear", None)
    assert read_critique("Colours differ. [image: fixed]") == ("mismatch", "fixed")


def test_stops_at_the_first_round_without_mismatch(reason_studio, stub):
    stub.enqueue(text="VERDICT: MATCH")
    state, _ = run_all(reason_studio, request_for(ZEBRAS, max_rounds=3))
    assert state.status == "done"
    assert [r["verdict"] for r in state.rounds] == ["match"]
    assert len(chat_bodies(stub)) == 1
    assert reason_studio.backends.get("painter").prompts == [ZEBRAS.question]


def test_regenerates_from_the_corrected_description_until_it_matches(reason_studio, stub):
    for text in ZEBRAS.critiques:
        stub.enqueue(text=text)
    state, _ = run_all(reason_studio, request_for(ZEBRAS, max_rounds=3))
    painter = reason_studio.backends.get("painter")
    assert painter.prompts == [ZEBRAS.question, read_critique(MISMATCH)[1]]
    assert [i.kind for i in state.items if i.kind != "note"] == ["image", "critique", "image", "critique"]
    assert state.final_image == state.rounds[-1]["image"] and state.status == "done"
    # the critic sees the generated image and the requirement
    body = chat_bodies(stub)[0]
    assert ZEBRAS.question in str(body["messages"][0]["content"]) and "image_url" in str(body["messages"][-1])


def test_a_loop_that_never_converges_stops_at_the_bound(reason_studio, stub):
    for n in range(1, 10):
        stub.enqueue(text=corrected(n))
    state, _ = run_all(reason_studio, request_for(ZEBRAS, max_rounds=3))
    assert state.status == "not-converged"
    assert len(state.rounds) == 3 and len(chat_bodies(stub)) == 3
    assert reason_studio.backends.get("painter").prompts == [ZEBRAS.question, "corrected description 1",
                                                             "corrected description 2"]
    assert any("after 3 round(s)" in n for n in state.notices)
    assert state.final_image == state.rounds[-1]["image"]


def test_critique_without_verdict_or_description_regenerates_with_a_new_seed(reason_studio, stub):
    stub.enqueue(text="Some elements look off.")
    stub.enqueue(text="VERDICT: MATCH")
    state, _ = run_all(reason_studio, request_for(ZEBRAS, max_rounds=2))
    assert state.status == "done"
    assert any("no VERDICT line" in n for n in state.notices)
    assert any("new seed" in n for n in state.notices)
    assert reason_studio.backends.get("painter").prompts == [ZEBRAS.question, ZEBRAS.question]


def test_critic_failure_keeps_the_last_image(reason_studio, stub):
    stub.enqueue(text=corrected(1))
    stub.enqueue(status=500)
    state, _ = run_all(reason_studio, request_for(ZEBRAS, max_rounds=3))
    assert state.status == "partial" and state.final_image
    assert any("round 2" in n and "critic" in n for n in state.notices)


def test_generation_failure_stops_the_loop(reason_studio, stub):
    state, _ = run_all(reason_studio, request_for(ZEBRAS, question="a FAIL scene", max_rounds=3))
    assert state.status == "failed" and chat_bodies(stub) == []
    assert "safety filter" in state.notices[0]
