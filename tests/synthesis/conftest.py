"""Fixtures for synthesis tests: a studio whose backends config has a test-double image engine."""
from __future__ import annotations

from pathlib import Path

import pytest

BACKENDS_YAML = """
backends:
  tiny:
    engine: "tests.support.fake_backends:TinyPainter"
    capabilities: [text-to-image, edit]
  flaky:
    engine: "tests.support.fake_backends:TinyPainter"
    capabilities: [text-to-image, edit]
    options: {fail_word: "balloon"}
"""


@pytest.fixture
def backends_yaml(tmp_path) -> Path:
    p = tmp_path / "backends.yaml"
    p.write_text(BACKENDS_YAML)
    return p


@pytest.fixture
def synth_studio(data_dir, backends_yaml):
    from studio.core import Studio
    from studio.settings import load_settings

    s = Studio(load_settings(data_dir=data_dir, backends_config=backends_yaml))
    yield s
    s.close()
