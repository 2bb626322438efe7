"""The Reason tab as a user meets it: handlers through gradio_client, mode 1 in a real browser."""
from __future__ import annotations

import pytest

from studio.reasoning.examples import get_example
from tests.reasoning.conftest import write_backends_config
from tests.support.openai_server import OpenAIStub

ARGS = ("mode", "reasoner", "image_backend", "critic", "max_images", "rounds", "seed", "question", "image",
        "rationale")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from tests.support.live_app import launched_app

    root = tmp_path_factory.mktemp("reason-app")
    (root / "data").mkdir()
    with OpenAIStub() as stub:
        cfg = write_backends_config(root / "backends.yaml", stub.base_url)
        with launched_app(root / "data", backends_config=cfg) as (url, studio):
            yield url, studio, stub


@pytest.fixture(scope="module")
def client(app):
    from gradio_client import Client

    return Client(app[0], verbose=False)


def call(client, endpoint, **values):
    defaults = dict(mode="mm_text", reasoner="reasoner", image_backend="painter", critic="reasoner",
                    max_images=3, rounds=3, seed=0, question="", image=None, rationale="")
    defaults.update(values)
    return client.predict(*[defaults[k] for k in ARGS], api_name=endpoint)


def kinds(chat):
    """Per assistant message: 'image' when it carries a file, else 'text'."""
    return ["image" if any(p.get("file") for p in m["content"] if isinstance(p, dict)) else "text"
            for m in chat if m["role"] == "assistant"]


def test_ask_streams_an_interleaved_answer_and_exports_it(app, client):
    _, studio, stub = app
    example = get_example("oak-leaf")
    stub.enqueue(text=example.rationale)
    chat, status, run, _, _ = call(client, "/reason_ask", question=example.question)
    assert "done" in status
    assert kinds(chat) == ["text", "image", "text", "image", "text", "image", "text"]
    assert "B. Oak leaf" in str(chat[-1]["content"])
    run_id = run["value"]
    assert client.predict(run_id, "uv", api_name="/reason_export").startswith("✅ exported as sample")
    assert "already exported" in client.predict(run_id, "uv", api_name="/reason_export")
    assert studio.samples.datasets() == ["uv"]
    # a second run of the same question goes to annotation against the first
    stub.enqueue(text=example.rationale)
    _, _, run2, _, _ = call(client, "/reason_ask", question=example.question, seed=5)
    sent = client.predict(run_id, run2["value"], "leaf-pairs", api_name="/reason_send")
    assert sent.startswith("✅ added to annotation batch **leaf-pairs**")
    assert "pick two different runs" in client.predict(run_id, run_id, "leaf-pairs", api_name="/reason_send")


def test_render_a_pasted_rationale_and_report_bad_input(app, client):
    example = get_example("ripe-banana")
    chat, status, *_ = call(client, "/reason_render", question=example.question, rationale=example.rationale,
                            reasoner="")
    assert "done" in status and kinds(chat).count("image") == 2
    _, status, *_ = call(client, "/reason_render", question="q", rationale="   ")
    assert "rationale box is empty" in status
    _, status, *_ = call(client, "/reason_ask", mode="mm_image", question="what season?")
    assert "needs an input image" in status


def test_load_example_fills_the_form(client):
    mode, question, image, rationale, note = client.predict("boat-person", api_name="/reason_load_example")
    assert mode == "mm_regions" and "right of the boat" in question
    assert image and "[crop:" in rationale and "boat-person" in note


@pytest.mark.browser
def test_mode_one_in_a_browser_shows_text_then_image(app, page):
    url, _, stub = app
    example = get_example("nine-lives")
    stub.enqueue(text=example.rationale)
    page.goto(url)
    page.get_by_role("tab", name="Reason").click()
    page.locator("#reason-question textarea").fill(example.question)
    page.locator("#reason-ask").click()
    stream = page.locator("#reason-stream")
    stream.locator("img").first.wait_for()
    page.locator("#reason-status").get_by_text("done").wait_for()
    text = stream.inner_text()
    assert "nine lives" in text.lower() and "image 1: a domestic cat" in text
    # the rationale's prose comes before the image in the stream
    order = stream.evaluate(
        """el => { const img = el.querySelector('img');
                   const prose = [...el.querySelectorAll('*')].find(n => n.childElementCount === 0 &&
                        n.textContent.includes('Folklore'));
                   return prose && img ? prose.compareDocumentPosition(img) : -1; }"""
    )
    assert order & 4  # Node.DOCUMENT_POSITION_FOLLOWING: the image follows the text
