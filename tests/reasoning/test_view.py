"""The Reason tab's stream: reasoner text never becomes HTML; slots show pending, ready and failed parts."""
from __future__ import annotations

from PIL import Image

from studio.reasoning.state import RunState, ViewItem
from studio.ui.reason_view import backends_help, chat_messages, status_markdown


def test_stream_escapes_text_and_shows_each_slot_state(studio):
    sha = studio.samples.store_image(Image.new("RGB", (8, 8), "red"))
    state = RunState(mode="mm_text", question="Which <b>leaf</b>?", status="partial", final_answer="B")
    state.items = [
        ViewItem("text", "<script>alert(1)</script> **bold**"),
        ViewItem("image", "an oak leaf", image=sha, seconds=0.5),
        ViewItem("image", "a maple leaf", status="pending"),
        ViewItem("image", "a ginkgo leaf", status="failed", error="timed out after 5 s"),
        ViewItem("text", "[image: x [y]]", status="skipped", error="brackets nested"),
    ]
    state.notices = ["image 3 (a ginkgo leaf): timed out after 5 s"]
    msgs = chat_messages(studio, state)
    assert msgs[0]["role"] == "user" and "&lt;b&gt;leaf&lt;/b&gt;" in msgs[0]["content"][0]
    assert msgs[1]["content"].startswith("&lt;script&gt;") and "**bold**" in msgs[1]["content"]
    image_msg = msgs[2]["content"]
    assert image_msg[0]["path"] == str(studio.images.find(sha)) and "image 1: an oak leaf" in image_msg[1]
    assert "rendering image 2: a maple leaf" in msgs[3]["content"]
    assert "image 3 failed" in msgs[4]["content"] and "timed out" in msgs[4]["content"]
    assert "brackets nested" in msgs[5]["content"]
    assert msgs[-1]["content"] == "**Final answer:** B"
    status = status_markdown(state)
    assert "some parts missing" in status and "timed out after 5 s" in status


def test_backends_help_names_reasoners_and_how_to_add_one(studio):
    text = backends_help(studio.backends)
    assert "No reasoner is configured" in text and "openai-chat" in text and "STUDIO_BACKENDS_CONFIG" in text
