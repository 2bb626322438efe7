"""OpenAI-compatible backends against the loopback stub: success, retries, errors, accounting."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image

from backends.base import (
    BackendError,
    BackendLoadError,
    Cancelled,
    ChatMessage,
    ChatRequest,
    EditRequest,
    GenerationRequest,
)
from backends.openai_api import OpenAIChatBackend, OpenAIImageBackend
from backends.registry import BackendRegistry, parse_backends_config
from tests.support.openai_server import OpenAIStub


@pytest.fixture
def srv():
    with OpenAIStub() as server:
        yield server


def chat_backend(srv, **opts) -> OpenAIChatBackend:
    opts.setdefault("max_retries", 3)
    backend = OpenAIChatBackend("gpt", model="stub-chat", base_url=srv.base_url, api_key="k", **opts)
    backend.sleep = backend_sleeps(backend)
    return backend


def backend_sleeps(backend):
    backend.waits = []
    return backend.waits.append


def ask(text: str = "hello", **kw) -> ChatRequest:
    return ChatRequest(messages=[ChatMessage("user", text)], **kw)


def test_chat_success_counts_tokens_and_cost(srv):
    srv.enqueue(text="a red cube", usage=(1000, 500))
    backend = chat_backend(srv, price={"prompt": 2.0, "completion": 8.0})
    result = backend.chat(ask("describe", temperature=0.2, max_tokens=20, params={"seed": 3, "top_k": 4}))
    assert result.text == "a red cube"
    assert (result.prompt_tokens, result.completion_tokens) == (1000, 500)
    assert result.cost_usd == pytest.approx((1000 * 2.0 + 500 * 8.0) / 1e6)
    assert result.latency_s > 0 and result.backend == "gpt" and result.model == "stub-chat"
    path, body = srv.requests[-1]
    assert path == "/v1/chat/completions"
    assert body["temperature"] == 0.2 and body["max_tokens"] == 20 and body["seed"] == 3
    assert body["top_k"] == 4  # unknown params travel in the body instead of being dropped
    assert backend.totals["prompt_tokens"] == 1000 and backend.totals["calls"] == 1


def test_chat_without_price_has_no_cost_and_echoes(srv):
    result = chat_backend(srv).chat(ask("echo me"))
    assert result.text == "echo me" and result.cost_usd is None


def test_chat_sends_images_as_data_url_parts(srv):
    srv.default_chat = lambda body: f"{len(body['messages'][0]['content'])} parts"
    img = Image.new("RGB", (40, 30), "blue")
    result = chat_backend(srv).chat(ChatRequest(messages=[ChatMessage("user", "what is this?", images=[img, img])]))
    assert result.text == "3 parts"
    parts = srv.requests[-1][1]["messages"][0]["content"]
    assert parts[0] == {"type": "text", "text": "what is this?"}
    assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,")


def test_429_honours_retry_after_then_succeeds(srv):
    srv.enqueue(status=429, headers={"Retry-After": "1"})
    srv.enqueue(text="ok")
    backend = chat_backend(srv)
    result = backend.chat(ask())
    assert result.text == "ok"
    assert backend.waits == [1.0]
    assert result.raw["attempts"] == 2 and backend.totals["retries"] == 1
    assert srv.paths() == ["/v1/chat/completions"] * 2


def test_429_retry_after_ms_and_real_wait(srv):
    srv.enqueue(status=429, headers={"retry-after-ms": "50"})
    srv.enqueue(text="ok")
    backend = OpenAIChatBackend("gpt", model="m", base_url=srv.base_url, api_key="k")
    assert backend.chat(ask()).text == "ok"  # waits for real (50 ms) through the cancellable sleep


def test_429_gives_up_after_max_retries(srv):
    for _ in range(3):
        srv.enqueue(status=429, headers={"Retry-After": "0"})
    backend = chat_backend(srv, max_retries=2)
    with pytest.raises(BackendError, match="rate limited.*gave up after 3 attempts"):
        backend.chat(ask())
    assert backend.waits == [0.0, 0.0]


def test_retry_after_longer_than_allowed_fails_at_once(srv):
    srv.enqueue(status=429, headers={"Retry-After": "600"})
    backend = chat_backend(srv)
    with pytest.raises(BackendError, match="asks to wait 600 s"):
        backend.chat(ask())
    assert backend.waits == []


def test_quota_is_not_retried(srv):
    srv.enqueue(status=429, error_code="insufficient_quota", error_type="insufficient_quota",
                message="You exceeded your current quota")
    backend = chat_backend(srv)
    with pytest.raises(BackendError, match="quota exhausted") as info:
        backend.chat(ask())
    assert "billing" in info.value.fix and len(srv.requests) == 1


def test_throttle_mentioning_quota_increase_is_retried(srv):
    srv.enqueue(status=429, error_code="rate_limit_exceeded", error_type="requests",
                message="Rate limit reached. Please retry after 6 seconds. Visit the limits page "
                        "to request a quota increase.", headers={"Retry-After": "6"})
    srv.enqueue(text="ok")
    backend = chat_backend(srv)
    assert backend.chat(ask()).text == "ok"
    assert backend.waits == [6.0] and len(srv.requests) == 2


def test_500_is_retried_with_exponential_backoff(srv):
    srv.enqueue(status=500)
    srv.enqueue(status=503)
    srv.enqueue(text="finally")
    backend = chat_backend(srv, backoff_base=0.5)
    assert backend.chat(ask()).text == "finally"
    first, second = backend.waits
    assert 0.375 <= first <= 0.625 and 0.75 <= second <= 1.25


def test_500_gives_up(srv):
    for _ in range(2):
        srv.enqueue(status=500)
    with pytest.raises(BackendError, match="server error 500.*gave up after 2 attempts"):
        chat_backend(srv, max_retries=1).chat(ask())


def test_401_is_a_clear_auth_error(srv):
    srv.enqueue(status=401)
    with pytest.raises(BackendError, match="rejected the key") as info:
        chat_backend(srv).chat(ask())
    assert "API_KEY" in info.value.fix and len(srv.requests) == 1


def test_content_policy_refusal(srv):
    srv.enqueue(status=400, error_code="content_policy_violation",
                message="Your request was rejected as a result of our safety system.")
    with pytest.raises(BackendError, match="content policy") as info:
        chat_backend(srv).chat(ask())
    assert "rephrase" in info.value.fix


def test_content_filter_finish_reason(srv):
    srv.enqueue(text="", finish_reason="content_filter")
    with pytest.raises(BackendError, match="content filter"):
        chat_backend(srv).chat(ask())


def test_timeout_is_reported(srv):
    srv.enqueue(hang=5.0)
    backend = chat_backend(srv, timeout=0.3, max_retries=0)
    with pytest.raises(BackendError, match=r"no answer from .* within 0.3 s \(gave up after 1 attempt\)"):
        backend.chat(ask())


def test_timeout_then_retry_succeeds(srv):
    srv.enqueue(hang=5.0)
    srv.enqueue(text="second time lucky")
    backend = chat_backend(srv, timeout=0.3, max_retries=1)
    assert backend.chat(ask()).text == "second time lucky"
    assert len(backend.waits) == 1


def test_malformed_response(srv):
    srv.enqueue(garbage=True)
    with pytest.raises(BackendError, match="malformed response"):
        chat_backend(srv).chat(ask())


def test_cancel_during_backoff(srv):
    srv.enqueue(status=500)
    cancel = threading.Event()
    backend = chat_backend(srv)
    backend.sleep = lambda seconds: cancel.set()
    with pytest.raises(Cancelled):
        backend.chat(ask(cancel=cancel))
    assert len(srv.requests) == 1


def test_unreachable_server():
    backend = OpenAIChatBackend("gpt", model="m", base_url="http://127.0.0.1:9/v1", api_key="k",
                                max_retries=0, timeout=2)
    with pytest.raises(BackendError, match="cannot reach"):
        backend.chat(ask())


def test_missing_key_for_openai_is_a_load_error(monkeypatch, tmp_path):
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "STUDIO_OPENAI_API_KEY", "STUDIO_OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BackendLoadError, match="no API key") as info:
        OpenAIChatBackend("gpt", model="m")
    assert "STUDIO_OPENAI_API_KEY" in info.value.fix


def test_endpoint_and_key_come_from_studio_settings(srv, monkeypatch):
    monkeypatch.setenv("STUDIO_OPENAI_BASE_URL", srv.base_url)
    monkeypatch.setenv("STUDIO_OPENAI_API_KEY", "from-settings")
    backend = OpenAIChatBackend("gpt", model="m")
    assert backend.base_url == srv.base_url and backend.client.api_key == "from-settings"
    assert backend.chat(ask("via settings")).text == "via settings"


def test_registry_builds_openai_backends(srv):
    entries = parse_backends_config({"backends": {
        "remote-chat": {"engine": "openai-chat", "options": {"model": "m", "base_url": srv.base_url, "api_key": "k"}},
        "remote-img": {"engine": "openai-image", "options": {"base_url": srv.base_url, "api_key": "k", "model": "img"}},
    }})
    registry = BackendRegistry(entries)
    assert "api_key" not in registry.get("remote-chat").describe()["options"]  # secrets stay out of the UI
    assert registry.get("remote-chat").chat(ask("through the registry")).text == "through the registry"
    assert registry.get("remote-img").generate(GenerationRequest("a cat", width=32, height=32)).image.size == (32, 32)
    registry.close()


def image_backend(srv, **opts) -> OpenAIImageBackend:
    backend = OpenAIImageBackend("img", base_url=srv.base_url, api_key="k", **opts)
    backend.sleep = backend_sleeps(backend)
    return backend


def test_image_generate_buckets_size_and_resizes_back(srv):
    steps = []
    backend = image_backend(srv, model="gpt-image-1", price={"image": 0.04})
    req = GenerationRequest("a tall tower", width=300, height=500, negative_prompt="blur",
                            progress=lambda s, t: steps.append((s, t)), params={"quality": "low"})
    result = backend.generate(req)
    assert result.image.size == (300, 500)
    body = srv.requests[-1][1]
    assert body["size"] == "1024x1536" and body["quality"] == "low" and body["prompt"] == "a tall tower"
    assert any("negative prompt ignored" in n for n in result.notices)
    assert any("renders 1024x1536" in n for n in result.notices)
    assert result.metadata["cost_usd"] == 0.04 and steps == [(0, 1), (1, 1)]


@pytest.mark.parametrize("model, width, height, expected", [
    ("dall-e-3", 600, 300, "1792x1024"),
    ("dall-e-3", 512, 512, "1024x1024"),
    ("dall-e-3", 300, 600, "1024x1792"),
    ("dall-e-2", 500, 500, "512x512"),
    ("dall-e-2", 200, 260, "256x256"),
    ("dall-e-2", 900, 1000, "1024x1024"),
])
def test_dalle_sizes_snap_to_the_allowed_ones(srv, model, width, height, expected):
    backend = image_backend(srv, model=model)
    result = backend.generate(GenerationRequest("a boat", width=width, height=height))
    body = srv.requests[-1][1]
    assert body["size"] == expected and body["response_format"] == "b64_json"
    assert result.image.size == (width, height)
    assert any(f"renders {expected}" in n for n in result.notices)


def test_image_edit_sends_all_images_and_mask(srv):
    base = Image.new("RGB", (64, 48), "white")
    ref = Image.new("RGB", (20, 20), "red")
    mask = Image.new("L", (64, 48), 0)
    mask.paste(255, (0, 0, 32, 48))
    backend = image_backend(srv, model="stub-image")
    result = backend.edit(EditRequest(image=base, instruction="make it red", mask=mask, reference_images=[ref]))
    assert result.image.size == (64, 48) and result.metadata["op"] == "edit"
    path, fields = srv.requests[-1]
    assert path == "/v1/images/edits" and fields["prompt"] == "make it red" and fields["size"] == "64x48"
    assert len(fields["image[]"]) == 2
    import io
    sent_mask = Image.open(io.BytesIO(fields["mask"]["bytes"]))
    assert sent_mask.mode == "RGBA"
    assert sent_mask.getpixel((5, 5))[3] == 0 and sent_mask.getpixel((60, 5))[3] == 255


def test_image_429_then_success_and_garbage(srv):
    srv.enqueue(status=429, headers={"Retry-After": "2"})
    backend = image_backend(srv, model="stub-image")
    assert backend.generate(GenerationRequest("x", width=16, height=16)).image.size == (16, 16)
    assert backend.waits == [2.0]
    srv.enqueue(garbage=True)
    with pytest.raises(BackendError, match="malformed"):
        backend.generate(GenerationRequest("x", width=16, height=16))


def test_image_content_policy(srv):
    srv.enqueue(status=400, error_code="moderation_blocked", message="Request was rejected by the safety system")
    with pytest.raises(BackendError, match="content policy"):
        image_backend(srv, model="gpt-image-1").generate(GenerationRequest("x"))


def test_stub_serves_concurrent_clients(srv):
    srv.latency = 0.1
    backend = chat_backend(srv)
    with ThreadPoolExecutor(16) as pool:
        texts = list(pool.map(lambda i: backend.chat(ask(f"msg {i}")).text, range(32)))
    assert texts == [f"msg {i}" for i in range(32)]
    assert backend.totals["calls"] == 32


def test_reasoning_models_get_max_completion_tokens(srv):
    backend = OpenAIChatBackend("o", model="o3-mini", base_url=srv.base_url, api_key="k")
    backend.chat(ask(max_tokens=50))
    body = srv.requests[-1][1]
    assert body["max_completion_tokens"] == 50 and "max_tokens" not in body
