"""Studios for the open-arena tests: three colour-filling test engines, one that refuses prompts
containing FAIL and one that waits on "slow prompt" until it is told to stop
(tests/support/fake_backends.py)."""
from __future__ import annotations

import pytest

BACKENDS = """
backends:
  red-engine:
    engine: tests.support.fake_backends:SolidColor
    capabilities: [text-to-image, edit]
  green-engine:
    engine: tests.support.fake_backends:SolidColor
    capabilities: [text-to-image, edit]
  blue-engine:
    engine: tests.support.fake_backends:SolidColor
    capabilities: [text-to-image, edit]
  fragile-engine:
    engine: tests.support.fake_backends:SolidColor
    capabilities: [text-to-image]
    options: {fragile: true}
  slow-engine:
    engine: tests.support.fake_backends:SolidColor
    capabilities: [text-to-image]
    options: {hold_on: slow prompt}
"""
ENGINES = ["red-engine", "green-engine", "blue-engine"]


def arena_studio(root, database_url: str | None = None, **settings):
    from studio.core import Studio
    from studio.settings import load_settings

    root.mkdir(parents=True, exist_ok=True)
    (root / "backends.yaml").write_text(BACKENDS)
    if database_url:
        settings["database_url"] = database_url
    return Studio(load_settings(data_dir=root / "data", backends_config=str(root / "backends.yaml"), **settings))


@pytest.fixture
def studio_db(db_url, tmp_path):
    """A studio with the arena test engines on SQLite and on PostgreSQL."""
    s = arena_studio(tmp_path / "arena", db_url)
    yield s
    s.close()

USERS = "ann:ann-pw:annotator,bob:bob-pw:annotator,boss:boss-pw:admin"


@pytest.fixture(scope="module")
def arena_app(tmp_path_factory):
    """(url, studio) of the real app in password mode (ann and bob annotators, boss admin) with the
    arena test engines."""
    from tests.support.live_app import launched_app

    root = tmp_path_factory.mktemp("arena-app")
    (root / "backends.yaml").write_text(BACKENDS)
    with launched_app(root / "data", auth_mode="password", users=USERS,
                      backends_config=str(root / "backends.yaml")) as served:
        yield served
