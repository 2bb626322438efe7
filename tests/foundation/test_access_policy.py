"""The access policy covers every event of the app, and annotators are refused every admin action over HTTP.

The hostile calls go through ``/gradio_api/queue/join`` with an ``fn_index``, exactly what a browser
sends, so events hidden from the API docs are tried as well. One app is launched per auth mode.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx
import pytest
from sqlalchemy import MetaData, select

from studio.auth import POLICY, RANKS
from studio.ui.access import action_of
from tests.annotation.helpers import make_batch
from tests.support.live_app import launched_demo, queue_call

ADMIN_ACTIONS = sorted(a for a, rule in POLICY.items() if rule.role == "admin")
MODES = {
    "password": dict(auth_mode="password", users="ann:ann-pw,boss:boss-pw:admin"),
    "open-annotator": dict(auth_mode="open", open_mode_role="annotator"),
}


def _actions(demo) -> dict[int, str]:
    """fn_index -> action, for every dependency of the Blocks (an event without a handler, such as a
    script in the page or a Stop button that only cancels another event, runs no server code)."""
    out = {}
    for index, block_fn in demo.fns.items():
        if block_fn.fn is None:
            out[index] = "page_script"
        else:
            out[index] = action_of(block_fn.fn)
    return out


def test_every_event_of_the_app_has_a_policy_entry(tmp_path):
    from studio.core import Studio
    from studio.settings import load_settings
    from studio.ui.app import build_app

    studio = Studio(load_settings(data_dir=tmp_path))
    try:
        demo = build_app(studio)
        assert not demo.failed_tabs
        actions = _actions(demo)
        assert len(actions) == len(demo.config["dependencies"]) > 50
        unguarded = {i: demo.fns[i].name for i, a in actions.items() if a not in POLICY}
        assert not unguarded, f"events without an entry in studio.auth.POLICY: {unguarded}"
        assert {rule.role for rule in POLICY.values()} <= set(RANKS)
        for admin_action in ADMIN_ACTIONS:  # each admin row guards something, so the HTTP test below tries it
            assert admin_action in actions.values(), admin_action
    finally:
        studio.close()


def _snapshot(studio) -> dict:
    """Every file of the data folder (but the database's own) and every row of every table."""
    root = studio.settings.data_dir
    files = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            p = Path(dirpath) / name
            if not name.startswith("studio.db"):
                files[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    meta = MetaData()
    meta.reflect(studio.db.engine)
    with studio.db.engine.connect() as conn:
        rows = {t.name: sorted(map(repr, conn.execute(select(t)).all())) for t in meta.sorted_tables}
    return {"files": files, "rows": rows}


def _default_inputs(demo, dep: dict) -> list:
    values = {c["id"]: c.get("props", {}).get("value") for c in demo.config["components"]}
    return [values.get(i) for i in dep["inputs"]]


@pytest.fixture(scope="module", params=sorted(MODES))
def hostile(request, tmp_path_factory):
    """(mode, url, studio, demo, client signed in as an annotator) for one launched app per auth mode."""
    data_dir = tmp_path_factory.mktemp(f"policy-{request.param}")
    with launched_demo(data_dir, **MODES[request.param]) as (url, studio, demo):
        make_batch(studio, "existing", 2)
        with httpx.Client(timeout=60) as client:
            if request.param == "password":
                r = client.post(f"{url}/login", data={"username": "ann", "password": "ann-pw"})
                assert r.json().get("success"), r.text
            yield request.param, url, studio, demo, client


@pytest.mark.parametrize("action", ADMIN_ACTIONS)
def test_annotators_are_refused_every_admin_action(hostile, action):
    mode, url, studio, demo, client = hostile
    deps = [d for d in demo.config["dependencies"] if _actions(demo)[d["id"]] == action]
    assert deps
    before = _snapshot(studio)
    for dep in deps:
        msg = queue_call(client, url, dep["id"], _default_inputs(demo, dep))
        assert msg["success"] is False, (mode, action, dep["id"], msg)
        assert "needs the admin role" in msg["output"]["error"], (mode, action, dep["id"], msg)
    assert _snapshot(studio) == before


@pytest.mark.parametrize("hostile", ["password"], indirect=True)
def test_unsigned_requests_still_get_401_in_password_mode(hostile):
    _, url, _, _, _ = hostile
    with httpx.Client(timeout=30) as anonymous:
        r = anonymous.post(f"{url}/gradio_api/queue/join",
                           json={"data": [], "fn_index": 0, "session_hash": "x1", "event_data": None})
        assert r.status_code == 401
