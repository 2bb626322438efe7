"""Fixtures: a loopback OpenAI-compatible reasoner and a Studio whose backends config points at it."""
from __future__ import annotations

import pytest
import yaml

from tests.support.openai_server import OpenAIStub


def write_backends_config(path, base_url: str, **painter_options) -> str:
    """A backends YAML with a reasoner on ``base_url`` and the PromptPainter image double."""
    config = {
        "backends": {
            "reasoner": {
                "engine": "openai-chat",
                "label": "Loopback reasoner",
                "options": {"base_url": base_url, "api_key": "test-key", "model": "stub-chat",
                            "max_retries": 0, "timeout": 5},
            },
            "painter": {
                "engine": "tests.support.fake_backends:PromptPainter",
                "capabilities": ["text-to-image", "edit"],
                "options": painter_options,
            },
        }
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return str(path)


@pytest.fixture
def stub():
    with OpenAIStub() as srv:
        yield srv


@pytest.fixture
def reason_studio(data_dir, tmp_path, stub):
    from studio.core import Studio
    from studio.settings import load_settings

    cfg = write_backends_config(tmp_path / "backends.yaml", stub.base_url)
    s = Studio(load_settings(data_dir=data_dir, backends_config=cfg))
    yield s
    s.close()
