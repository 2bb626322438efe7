"""Per-user limits of long actions, and messages without server paths for non-admins (over HTTP)."""
from __future__ import annotations

import threading

import pytest
from gradio_client import Client

from studio import auth
from tests.support import fake_backends
from tests.support.live_app import launched_demo

BACKENDS = """
backends:
  missing:
    engine: tests.support.fake_backends:MissingWeights
    capabilities: [text-to-image]
    options: {{model: "{weights}"}}
  slow:
    engine: tests.support.fake_backends:WaitsForGate
    capabilities: [text-to-image]
"""


@pytest.fixture
def app(data_dir, monkeypatch):
    # a short time limit for the backend check, so the test can see it reached
    monkeypatch.setitem(auth.POLICY, "backend_check", auth.Action("annotator", per_user=1, time_limit_s=2))
    config = data_dir / "backends.yaml"
    config.write_text(BACKENDS.format(weights=data_dir / "models" / "sd-weights"))
    with launched_demo(data_dir, auth_mode="password", users="ann:ann-pw,boss:boss-pw:admin",
                       backends_config=config) as (url, studio, _):
        yield url, studio


def test_annotators_see_no_server_paths_admins_do(app):
    url, studio = app
    data = str(studio.settings.data_dir)
    ann = Client(url, auth=("ann", "ann-pw"), verbose=False)
    text, table = ann.predict("missing", api_name="/check_backend")
    assert "…/sd-weights" in text and data not in text
    assert "failed" in str(table) and data not in str(table)
    boss = Client(url, auth=("boss", "boss-pw"), verbose=False)
    text, _ = boss.predict("missing", api_name="/check_backend")
    assert f"{data}/models/sd-weights" in text


def test_one_running_check_per_user_held_until_the_work_really_ends(app):
    url, _ = app
    fake_backends.GATE.clear()
    fake_backends.ENTERED.clear()
    ann = Client(url, auth=("ann", "ann-pw"), verbose=False)
    first = ann.submit("slow", api_name="/check_backend")
    assert fake_backends.ENTERED.wait(60)
    try:
        with pytest.raises(Exception, match="You already have 1 running"):
            ann.predict("missing", api_name="/check_backend")
        boss = Client(url, auth=("boss", "boss-pw"), verbose=False)
        assert "cannot load" in boss.predict("missing", api_name="/check_backend")[0]  # others are not held up
        with pytest.raises(Exception, match="longer than its limit of 2 s"):
            first.result(timeout=60)  # the caller is answered at the limit ...
        with pytest.raises(Exception, match="You already have 1 running"):
            ann.predict("missing", api_name="/check_backend")  # ... but the load still runs: still held
    finally:
        fake_backends.GATE.set()
    done = threading.Event()

    def free() -> bool:
        try:
            return "cannot load" in ann.predict("missing", api_name="/check_backend")[0]
        except Exception:  # noqa: BLE001 - the slot is given back when the released load returns
            return False

    for _ in range(100):
        if free():
            done.set()
            break
        done.wait(0.2)
    assert done.is_set()
