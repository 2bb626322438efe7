"""Local transformers chat backend on a tiny random causal LM with its own chat template."""
from __future__ import annotations

import threading

import pytest
from PIL import Image

from backends.base import BackendLoadError, Cancelled, ChatMessage, ChatRequest, UnsupportedOperation
from backends.model_cache import ModelCache
from backends.transformers_chat import TransformersChatBackend


@pytest.fixture
def backend(tiny_chat_lm):
    cache = ModelCache(budget_bytes=2**30)
    yield TransformersChatBackend("local", model=str(tiny_chat_lm), cache=cache)
    cache.clear()


def conversation(**kw) -> ChatRequest:
    return ChatRequest(messages=[ChatMessage("system", "be brief"), ChatMessage("user", "name a colour")], **kw)


def test_chat_uses_the_template_and_counts_tokens(backend, tiny_chat_lm):
    from transformers import AutoTokenizer

    result = backend.chat(conversation(temperature=0, max_tokens=6))
    tok = AutoTokenizer.from_pretrained(str(tiny_chat_lm))
    expected_prompt = tok.apply_chat_template([{"role": "system", "content": "be brief"},
                                               {"role": "user", "content": "name a colour"}],
                                              add_generation_prompt=True, tokenize=True, return_dict=True)
    assert result.prompt_tokens == len(expected_prompt["input_ids"])
    assert 0 < result.completion_tokens <= 6
    assert isinstance(result.text, str) and result.backend == "local" and result.latency_s > 0
    again = backend.chat(conversation(temperature=0, max_tokens=6))
    assert again.text == result.text  # greedy decoding is deterministic


def test_sampling_follows_the_seed(backend):
    a = backend.chat(conversation(temperature=1.0, max_tokens=8, params={"seed": 1}))
    b = backend.chat(conversation(temperature=1.0, max_tokens=8, params={"seed": 1}))
    assert a.text == b.text


def test_images_to_a_text_only_model_are_refused(backend):
    req = ChatRequest(messages=[ChatMessage("user", "what is this?", images=[Image.new("RGB", (8, 8))])])
    with pytest.raises(UnsupportedOperation, match="text-only"):
        backend.chat(req)


def test_cancel_stops_generation(backend):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        backend.chat(conversation(cancel=cancel))


def test_missing_model_is_a_load_error(tmp_path):
    with pytest.raises(BackendLoadError, match="not found"):
        TransformersChatBackend("x", model=str(tmp_path / "none"), cache=ModelCache(2**20)).chat(conversation())


def test_vision_language_model_sees_the_image(tiny_vlm):
    backend = TransformersChatBackend("vlm", model=str(tiny_vlm), cache=ModelCache(2**30))

    def ask(colour: str):
        img = Image.new("RGB", (60, 40), colour)
        return backend.chat(ChatRequest(messages=[ChatMessage("user", "what colour is this?", images=[img])],
                                        temperature=0, max_tokens=6))

    red, blue = ask("red"), ask("blue")
    assert red.raw["vision"] is True
    assert red.prompt_tokens > 17  # 16 patch features + the class token replace the <image> placeholder
    assert red.text != blue.text  # the answer depends on the pixels
    text_only = backend.chat(ChatRequest(messages=[ChatMessage("user", "hello")], temperature=0, max_tokens=3))
    assert text_only.completion_tokens > 0
