"""LLM composition against the loopback OpenAI-compatible server: success, 429/500, garbage, bad text."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from studio.db.models import Sample
from studio.synthesis.batches import BatchOptions, batch_items, create_batch, run_batch
from studio.synthesis.dedup import DedupSettings
from studio.synthesis.planner import SynthesisRequest
from tests.support.openai_server import OpenAIStub

OFF = DedupSettings(near="off")


def _answer(body) -> str:
    last = body["messages"][-1]["content"]
    text = last if isinstance(last, str) else " ".join(p.get("text", "") for p in last if isinstance(p, dict))
    if "Visual Template Prompt" in text:
        return ("Visual Template Prompt: A clean modern slide template with a large title area and a blue accent bar\n"
                "Conceived Theme: renewable energy\nDocument Type: Slide - title slide")
    if "exactly 2 rounds" in text:
        return "Add a red kite in the sky\nMake the car blue"
    if "Write its content" in text:
        return "Title: Solar Power\n- panels\n- storage"
    return "A red bus parked to the left of a tall green tree on a quiet street"


@pytest.fixture
def stub():
    with OpenAIStub() as srv:
        srv.default_chat = _answer
        yield srv


@pytest.fixture
def llm_studio(data_dir, tmp_path, stub):
    from studio.core import Studio
    from studio.settings import load_settings

    cfg = tmp_path / "llm-backends.yaml"
    cfg.write_text(f"""
backends:
  tiny:
    engine: "tests.support.fake_backends:TinyPainter"
    capabilities: [text-to-image, edit]
  stubchat:
    engine: openai-chat
    options: {{base_url: "{stub.base_url}", api_key: test, model: stub-chat, max_retries: 2,
               backoff_base: 0.01, backoff_max: 0.05, timeout: 5, price: {{prompt: 1.0, completion: 2.0}}}}
""")
    s = Studio(load_settings(data_dir=data_dir, backends_config=cfg))
    yield s
    s.close()


def test_llm_batch_survives_429_and_500_and_counts_tokens(llm_studio, stub):
    stub.enqueue(status=429, headers={"Retry-After": "0"})
    stub.enqueue(status=500)
    req = SynthesisRequest(nodes=["opengpt4o/gen/spatial/relative_position", "sharegpt4o/document/slide",
                                  "opengpt4o/edit/multi_turn/turns_2", "opengpt4o/edit/subject/add"],
                           count=4, seed=1, method="llm", dedup=OFF)
    bid = create_batch(llm_studio, req, BatchOptions(images_backend="tiny", chat_backend="stubchat",
                                                     dataset="llm", concurrency=2, requests_per_minute=6000))
    st = run_batch(llm_studio, bid)
    assert (st.done, st.failed) == (4, 0), batch_items(llm_studio, bid)
    assert st.llm_calls == 5  # the document pipeline makes two calls
    assert st.prompt_tokens > 0 and st.completion_tokens > 0 and st.cost_usd > 0
    with llm_studio.db.session() as s:
        samples = {x.taxonomy_id: x for x in s.execute(select(Sample).where(Sample.dataset == "llm")).scalars()}
    gen = samples["opengpt4o/gen/spatial/relative_position"]
    assert gen.prompt.startswith("A red bus") and gen.method == "llm"
    assert gen.llm["raw"] and gen.llm["prompt_tokens"] > 0 and gen.llm["latency_s"] >= 0
    assert gen.attributes["draft"]
    doc = samples["sharegpt4o/document/slide"]
    assert doc.prompt.startswith("A clean modern slide template") and len(doc.llm["calls"]) == 2
    mt = samples["opengpt4o/edit/multi_turn/turns_2"]
    assert [t["instruction"] for t in mt.turns] == ["Add a red kite in the sky.", "Make the car blue."] or \
        [t["instruction"] for t in mt.turns] == ["Add a red kite in the sky", "Make the car blue"]
    # the edit meta-prompt went out with the rendered source image attached
    edit_bodies = [b for p, b in stub.requests if "Editing type" in str(b)]
    assert any("image_url" in str(b) for b in edit_bodies)


@pytest.mark.parametrize("reply, expect", [
    (dict(text=""), "empty"),
    (dict(text="Sure! Here is your prompt:\nA cat on a mat."), "expected one prompt"),
    (dict(garbage=True), "Backend 'stubchat'"),
])
def test_unusable_answers_fail_the_item_with_the_raw_text(llm_studio, stub, reply, expect):
    stub.enqueue(**reply)
    req = SynthesisRequest(nodes=["opengpt4o/gen/spatial/object_counting"], count=1, seed=4, method="llm", dedup=OFF)
    bid = create_batch(llm_studio, req, BatchOptions(chat_backend="stubchat", dataset="bad", concurrency=1))
    st = run_batch(llm_studio, bid)
    assert (st.done, st.failed) == (0, 1)
    item = batch_items(llm_studio, bid, "failed")[0]
    assert expect in item["error"]
    if reply.get("text"):
        assert item["raw_output"] == reply["text"]
    with llm_studio.db.session() as s:
        assert s.execute(select(Sample).where(Sample.dataset == "bad")).first() is None


def test_uploaded_image_is_captioned_image_first_and_stored(llm_studio, stub, tmp_path):
    from PIL import Image

    from studio.synthesis.service import caption_upload

    path = tmp_path / "up.png"
    Image.new("RGB", (20, 20), "red").save(path)
    res = caption_upload(llm_studio, str(path), "stubchat", "opengpt4o/gen/spatial/relative_position", "cap")
    assert res["caption"].startswith("A red bus")
    assert "Base Task: Relative Position" in res["meta_prompt"][-1]["content"]
    sample = llm_studio.samples.get(res["sample_id"])
    assert sample.output_image and sample.llm["meta_prompt_kind"] == "image-first"
    assert "image_url" in str(stub.requests[-1][1])
