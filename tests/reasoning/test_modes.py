"""Each mode end to end: the loopback OpenAI-compatible reasoner scripted with the paper's examples."""
from __future__ import annotations

import pytest

from studio.reasoning import ReasoningInputError
from studio.reasoning.examples import get_example, load_examples
from studio.reasoning.models import ReasoningRun
from studio.reasoning.runner import ReasoningRunner
from studio.reasoning.state import RunRequest
from tests.reasoning.helpers import chat_bodies, request_for, run_all, script

EXPECTED = {  # example id -> (final answer, number of rendered images/snapshots, phrase of the system prompt)
    "nine-lives": (None, 1, "describes its subject only indirectly"),
    "test-cricket": (None, 1, "describes its subject only indirectly"),
    "oak-leaf": ("B. Oak leaf", 3, "Use no more than 3 image descriptions"),
    "ripe-banana": ("B. Banana", 2, "Use no more than 3 image descriptions"),
    "bare-trees-season": ("fall", 2, "do not describe something close to the given image"),
    "boat-person": ("shorts", 1, "[crop: x1, y1, x2, y2]"),
    "zebras": (None, 2, "VERDICT: MATCH"),
    "serene-patio": (None, 1, "the concrete edit to apply"),
}


def test_every_mode_has_a_shipped_example():
    from studio.reasoning.modes import MODES

    assert {e.mode for e in load_examples()} == set(MODES)
    assert {e.id for e in load_examples()} == set(EXPECTED)


@pytest.mark.parametrize("example_id", list(EXPECTED))
def test_mode_end_to_end_with_the_papers_example(reason_studio, stub, example_id):
    example = get_example(example_id)
    script(stub, example)
    state, frames = run_all(reason_studio, request_for(example))
    answer, n_images, prompt_phrase = EXPECTED[example_id]

    assert state.status == "done", state.notices
    assert state.final_answer == answer
    rendered = [i for i in state.items if i.kind in ("image", "crop") and i.status == "ready"]
    assert len(rendered) == n_images and all(i.image for i in rendered)
    assert state.final_image == rendered[-1].image
    # text first, image slots pending, then filled: the stream shows pending slots before they fill
    if example.mode not in ("mm_regions",):
        assert any(("image", "pending") in frame for frame in frames)
    # what the reasoner was sent: the mode's template as system prompt, the image for image modes
    bodies = chat_bodies(stub)
    system = bodies[0]["messages"][0]
    assert system["role"] == "system" and prompt_phrase in str(system["content"])
    user_content = str(bodies[0]["messages"][-1]["content"])
    assert ("image_url" in user_content) == (example.mode in ("mm_image", "mm_regions", "correction", "edit"))
    # the run is stored with its segments, backends and timings
    with reason_studio.db.session() as s:
        row = s.get(ReasoningRun, state.run_id)
        assert row.mode == example.mode and row.status == "done" and row.question == example.question
        assert row.image_backend == ("painter" if example.mode != "mm_regions" else None)
        assert [seg.get("image") for seg in row.segments if seg.get("image")] == [i.image for i in rendered]
        assert "total_s" in row.timings and row.llm
        assert (row.input_image is not None) == (example.input_image is not None)


def test_interleaved_order_follows_the_rationale(reason_studio, stub):
    example = get_example("oak-leaf")
    script(stub, example)
    state, _ = run_all(reason_studio, request_for(example))
    kinds = [i.kind for i in state.items]
    assert kinds == ["text", "image", "text", "image", "text", "image"]  # the answer line is shown on its own
    assert state.items[1].text.startswith("an oak leaf")


def test_images_fill_in_as_each_is_ready_not_in_order(reason_studio, stub):
    stub.enqueue(text="First [image: GATED slow picture] then [image: quick picture]\nFinal answer: x")
    painter = reason_studio.backends.get("painter")
    painter.gate.clear()
    runner = ReasoningRunner(reason_studio)
    seen_quick_first = False
    for state in runner.run(RunRequest(mode="mm_text", question="q?", reasoner="reasoner",
                                       image_backend="painter", width=32, height=32)):
        slow, quick = [i for i in state.items if i.kind == "image"] or (None, None)
        if quick is not None and quick.status == "ready" and slow.status == "pending":
            seen_quick_first = True
            painter.gate.set()
    assert seen_quick_first and state.status == "done"


def test_reasoner_timeout_is_a_failed_run_with_a_message(reason_studio, stub):
    stub.enqueue(hang=3.0)
    state, _ = run_all(reason_studio, request_for(get_example("oak-leaf"), reasoner_timeout_s=0.5))
    assert state.status == "failed"
    assert "did not answer within 0.5 s" in state.notices[0]


def test_reasoner_server_error_is_a_failed_run_with_the_backend_reason(reason_studio, stub):
    stub.enqueue(status=401)
    state, _ = run_all(reason_studio, request_for(get_example("oak-leaf")))
    assert state.status == "failed" and "reasoner" in state.notices[0]
    assert not any(i.kind == "image" for i in state.items)


def test_refusal_is_shown_and_nothing_is_rendered(reason_studio, stub):
    stub.enqueue(text="I'm sorry, but I can't help with that request.")
    state, _ = run_all(reason_studio, request_for(get_example("oak-leaf")))
    assert state.status == "refused"
    assert state.items[0].text.startswith("I'm sorry")
    assert reason_studio.backends.get("painter").prompts == []


def test_malformed_and_excess_parts_are_visible_not_rendered(reason_studio, stub):
    stub.enqueue(text="a [image: one] b [image: two] c [image: three] d [image:  ] e [image: x [y] z] f [image: open")
    state, _ = run_all(reason_studio, request_for(get_example("oak-leaf"), max_images=2))
    ready = [i.text for i in state.items if i.kind == "image" and i.status == "ready"]
    skipped = [i for i in state.items if i.status == "skipped"]
    assert ready == ["one", "two"]
    reasons = " ".join(i.error for i in skipped)
    for phrase in ("over the limit of 2", "empty description", "nested", "unclosed"):
        assert phrase in reasons and any(phrase in n for n in state.notices)
    assert state.status == "done"


def test_a_failing_or_hanging_image_leaves_the_others(reason_studio, stub):
    stub.enqueue(text="[image: a FAIL picture] and [image: a fine picture] and [image: a HANG picture]")
    state, _ = run_all(reason_studio, request_for(get_example("oak-leaf"), image_timeout_s=1.0))
    by_text = {i.text: i for i in state.items if i.kind == "image"}
    assert by_text["a fine picture"].status == "ready"
    assert by_text["a FAIL picture"].status == "failed" and "safety filter" in by_text["a FAIL picture"].error
    assert by_text["a HANG picture"].status == "failed" and "timed out" in by_text["a HANG picture"].error
    assert state.status == "partial"


def test_implicit_without_image_part_turns_the_thought_into_a_prompt(reason_studio, stub):
    stub.enqueue(text="The clues point to the giant panda, so the picture should show a panda.")
    stub.enqueue(text="A giant panda eating bamboo in a forest")
    state, _ = run_all(reason_studio, request_for(get_example("nine-lives")))
    images = [i for i in state.items if i.kind == "image"]
    assert [i.text for i in images] == ["A giant panda eating bamboo in a forest"] and images[0].status == "ready"
    assert "Input for the text-to-image model" in str(chat_bodies(stub)[1]["messages"])
    assert state.status == "done" and len(state.llm) == 2


def test_pasted_rationale_renders_without_any_reasoner(reason_studio, stub):
    example = get_example("ripe-banana")
    state, _ = run_all(reason_studio, request_for(example, reasoner=None, rationale=example.rationale))
    assert state.status == "done" and state.reasoner is None
    assert sum(1 for i in state.items if i.image) == 2
    assert chat_bodies(stub) == []


def test_bad_crop_boxes_are_clamped_or_rejected(reason_studio, stub):
    stub.enqueue(text="[crop: 0.5, 0.5, 1.4, 1.2] and [crop: 2000, 2000, 2100, 2100] and [crop: left half]")
    state, _ = run_all(reason_studio, request_for(get_example("boat-person")))
    crops = [i for i in state.items if i.kind == "crop"]
    assert crops[0].status == "ready" and crops[0].box == [240, 160, 480, 320] and "clamped" in crops[0].error
    assert crops[1].status == "failed" and "outside" in crops[1].error
    assert crops[2].status == "failed" and "four numbers" in crops[2].error
    assert state.status == "partial"


def test_requests_that_cannot_run_say_what_to_fix(reason_studio, tmp_path, data_dir):
    runner = ReasoningRunner(reason_studio)
    cases = [
        (RunRequest(mode="mm_text", question="  ", reasoner="reasoner", image_backend="painter"), "question"),
        (RunRequest(mode="mm_image", question="q", reasoner="reasoner", image_backend="painter"), "needs an input image"),
        (RunRequest(mode="mm_text", question="q", image_backend="painter"), "configured reasoners: reasoner"),
        (RunRequest(mode="mm_text", question="q", reasoner="painter", image_backend="painter"), "cannot do chat"),
        (RunRequest(mode="mm_text", question="q", reasoner="reasoner", image_backend="reasoner"), "cannot do text-to-image"),
        (RunRequest(mode="mm_text", question="q", reasoner="reasoner", image_backend="painter", max_images=7), "1–3"),
        (RunRequest(mode="nope", question="q"), "unknown mode"),
    ]
    for request, phrase in cases:
        with pytest.raises((ReasoningInputError, ValueError), match=phrase):
            list(runner.run(request))
    with reason_studio.db.session() as s:
        assert s.query(ReasoningRun).count() == 0


def test_without_any_chat_backend_the_message_says_how_to_configure(data_dir, tmp_path):
    from studio.core import Studio
    from studio.settings import load_settings

    cfg = tmp_path / "only-images.yaml"
    cfg.write_text("backends:\n  painter:\n    engine: tests.support.fake_backends:PromptPainter\n"
                   "    capabilities: [text-to-image]\n")
    studio = Studio(load_settings(data_dir=data_dir, backends_config=cfg))
    try:
        with pytest.raises(ReasoningInputError, match="openai-chat"):
            list(ReasoningRunner(studio).run(RunRequest(mode="mm_text", question="q", image_backend="painter")))
    finally:
        studio.close()


def test_stop_ends_unfinished_parts_and_keeps_the_rest(reason_studio, stub):
    import threading

    stub.enqueue(text="[image: HANG one] and [image: quick one]")
    stop = threading.Event()
    request = request_for(get_example("oak-leaf"), stop=stop)
    for state in ReasoningRunner(reason_studio).run(request):
        if any(i.kind == "image" and i.status == "ready" for i in state.items):
            stop.set()
    by_text = {i.text: i for i in state.items if i.kind == "image"}
    assert by_text["quick one"].status == "ready"
    assert by_text["HANG one"].status == "failed" and by_text["HANG one"].error == "stopped by the user"
    assert state.status == "partial" and state.run_id


def test_stop_while_the_reasoner_thinks(reason_studio, stub):
    import threading

    stub.enqueue(hang=5.0)
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    state, _ = run_all(reason_studio, request_for(get_example("oak-leaf"), stop=stop))
    assert state.status == "failed" and "stopped by the user" in state.notices[0]


def test_mm_reasoning_mm_allows_at_most_two_image_descriptions():
    """Table 14 (MM) allows 2 image descriptions, Table 16 (T) 3: the rendered prompt never allows more."""
    from studio.reasoning.templates import system_prompt

    assert "at most 2 of them" in system_prompt("mm_image", max_images=3)
    assert "at most 1 of them" in system_prompt("mm_image", max_images=1)
    assert "no more than 3 image descriptions" in system_prompt("mm_text", max_images=3)


def test_mm_reasoning_mm_run_sends_the_limit_of_two(reason_studio, stub):
    example = get_example("bare-trees-season")
    script(stub, example)
    run_all(reason_studio, request_for(example, max_images=3))
    system = chat_bodies(stub)[0]["messages"][0]["content"]
    assert "at most 2 of them" in str(system) and "at most 3" not in str(system)


def test_worked_examples_say_the_wording_is_the_studios_and_keep_the_rules():
    """Labels do not call paraphrases the paper's; T-mode image parts show one option each."""
    from studio.reasoning.interleaved import parse_rationale

    for ex in load_examples():
        assert ex.source.startswith("studio wording, after UnifiedVisual"), ex.id
    banana = get_example("ripe-banana")
    options = ("cherr", "banana", "grape", "watermelon")
    for seg in parse_rationale(banana.rationale).image_parts:
        assert sum(o in seg.body.lower() for o in options) == 1, seg.body
    assert get_example("boat-person").rationale.endswith("Final answer: shorts")  # Table 26's answer


def test_modes_say_where_they_depart_from_the_paper():
    from studio.reasoning.modes import MODES, NOT_OFFERED

    assert "retrieves" in MODES["mm_image"].hint and "Studio variant" in MODES["mm_image"].hint
    assert "F.6" in NOT_OFFERED["MMInternet"]
