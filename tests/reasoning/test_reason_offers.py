"""What the Reason tab offers on a fresh install (no reasoner, no critic): only what can work is primary,
and an example that needs a missing model says so before it is loaded."""
from __future__ import annotations

import httpx


def _props(config: dict, elem_id: str) -> dict:
    return next(c["props"] for c in config["components"] if c.get("props", {}).get("elem_id") == elem_id)


def test_a_fresh_install_offers_render_first_and_marks_examples_that_need_a_critic(live_app):
    url, _ = live_app
    config = httpx.get(f"{url}/config").json()
    assert _props(config, "reason-ask")["variant"] == "secondary"
    assert _props(config, "reason-render")["variant"] == "primary"
    labels = [label for label, _ in _props(config, "reason-example")["choices"]]
    correction = [label for label in labels if "needs a vision-language critic" in label]
    assert correction and len(correction) < len(labels)
