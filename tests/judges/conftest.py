"""A loopback OpenAI-compatible judge that looks at the images it is sent and answers by a known rule.

Pairs: the output with more red wins; equal red -> it answers "A" whatever the order (a position-biased
judge). Scores: each asked number is ``low + (high - low) * channel / 255`` of the last image's pixel
(red, green, blue, red, ...), rounded to 2 decimals, inside a code fence with text around it.
"""
from __future__ import annotations

import json
import re

import pytest

from tests.support.openai_server import OpenAIStub, _last_user_text, sent_images

SLOT = re.compile(r"<(\w+) ([\d.]+)-([\d.]+)>")


def pixel(img):
    return img.getpixel((0, 0))


def rule(body):
    text = _last_user_text(body)
    images = sent_images(body)
    if '"winner"' in text:
        ra, rb = pixel(images[-2])[0], pixel(images[-1])[0]
        winner = "A" if ra >= rb else "B"
        return f'Sure. {json.dumps({"winner": winner, "reasoning": f"red {ra} vs {rb}"})}'
    out = pixel(images[-1])
    values = [round(float(lo) + (float(hi) - float(lo)) * out[k % 3] / 255, 2)
              for k, (_, lo, hi) in enumerate(SLOT.findall(text))]
    return "My rating:\n```json\n" + json.dumps({"score": values, "reasoning": "by colour"}) + "\n```\nDone."


@pytest.fixture
def stub():
    with OpenAIStub() as srv:
        srv.default_chat = rule
        yield srv


@pytest.fixture
def backends_yaml(tmp_path, stub):
    path = tmp_path / "backends.yaml"
    path.write_text(f"""
backends:
  vlm:
    engine: openai-chat
    options: {{base_url: "{stub.base_url}", api_key: k, model: stub-vlm, backoff_base: 0.01, max_retries: 2,
               price: {{prompt: 1.0, completion: 2.0}}}}
  small-api:
    engine: openai-chat
    options: {{base_url: "{stub.base_url}", api_key: k, model: stub-vlm, max_image_side: 64}}
  text-only:
    engine: openai-chat
    options: {{base_url: "{stub.base_url}", api_key: k, model: stub-text, vision: false}}
  painter:
    engine: procedural
""")
    return str(path)


@pytest.fixture
def judge_studio(data_dir, backends_yaml):
    from studio.core import Studio
    from studio.settings import load_settings

    s = Studio(load_settings(data_dir=data_dir, backends_config=backends_yaml))
    yield s
    s.close()


@pytest.fixture
def judge_db_studio(data_dir, backends_yaml, db_url):
    """A studio with the judge backends on SQLite and on PostgreSQL."""
    from studio.core import Studio
    from studio.settings import load_settings

    s = Studio(load_settings(data_dir=data_dir, backends_config=backends_yaml, database_url=db_url))
    yield s
    s.close()


@pytest.fixture
def cli(monkeypatch, data_dir, backends_yaml):
    from studio.cli import judge, main
    from studio.core import Studio
    from studio.settings import load_settings

    import importlib

    def make():
        return Studio(load_settings(data_dir=data_dir, backends_config=backends_yaml))

    monkeypatch.setattr(judge, "_studio", make)
    monkeypatch.setattr(importlib.import_module("studio.cli.eval"), "_studio", make)
    return main
