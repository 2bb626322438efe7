"""Fixtures shared by the whole suite.

- ``studio``: a Studio on a temp data dir (SQLite).
- ``db_url``: parametrized over SQLite and a real PostgreSQL server (started once per session).
- ``live_app``: the real app launched on loopback; ``page``: a Playwright page in Debian chromium.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

IN_CI = bool(os.environ.get("CI"))
CHROMIUM = os.environ.get("STUDIO_TEST_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture
def data_dir(tmp_path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    return d


@pytest.fixture
def studio(data_dir):
    from studio.core import Studio
    from studio.settings import load_settings

    s = Studio(load_settings(data_dir=data_dir))
    yield s
    s.close()


@pytest.fixture(scope="session")
def pg_server():
    from tests.support.postgres import PostgresServer

    try:
        server = PostgresServer().start()
    except Exception as exc:  # noqa: BLE001
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI: {exc}")
        pytest.skip(f"PostgreSQL not available: {exc}")
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    server = request.getfixturevalue("pg_server")
    return server.create_database()


@pytest.fixture
def live_app(data_dir):
    from tests.support.live_app import launched_app

    with launched_app(data_dir) as (url, studio):
        yield url, studio


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail(f"chromium is required in CI at {CHROMIUM}")
        pytest.skip(f"no chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-background-networking", "--disable-gpu",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    p = ctx.new_page()
    p.set_default_timeout(20_000)
    yield p
    ctx.close()


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray cluster with two worker CPUs, shared by one module's tests that send work to Ray; it is
    shut down after them so its processes do not take CPU from the rest of the suite."""
    if not IN_CI:
        pytest.importorskip("ray")
    from studio.raypool import RayOptions, connect

    ray = connect(RayOptions(address="local", local_cpus=2))
    yield ray
    ray.shutdown()


@pytest.fixture(autouse=True)
def _no_training_outlives_its_test():
    """A test that fails half-way must not leave its training process running (and the suite slowed):
    every run this test process started and that still runs is killed with its process group."""
    yield
    launcher = sys.modules.get("finetune.launcher")
    if launcher is None:
        return
    import signal

    for pid in launcher.started_here():
        try:
            os.killpg(pid, signal.SIGKILL)  # the run was started in a session of its own
        except ProcessLookupError:
            pass
