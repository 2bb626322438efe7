"""The Evaluate tab through the app's HTTP API: create a run, watch it finish, read scores; errors say why."""
from __future__ import annotations

import time

import httpx
import pytest

from tests.annotation.live import ApiError, annotate_app, call

pytestmark = pytest.mark.slow


@pytest.fixture
def app(tmp_path, backends_yaml):
    with annotate_app(tmp_path / "app-data", backends_config=backends_yaml) as served:
        yield served


def _status(client, url, name):
    summary, by_model, by_node, items = call(client, url, "evaluate_status", [name])
    return summary, by_model, by_node, items


def test_create_run_and_read_its_scores(app):
    url, _ = app
    with httpx.Client(timeout=60) as client:
        call(client, url, "evaluate_create", ["tab-run", ["painter"], "scene-graph", "geneval", "geneval", 6, "", "",
                                              None, 128, 0, 2])
        deadline = time.monotonic() + 120
        while True:
            summary, by_model, by_node, items = _status(client, url, "tab-run")
            if "ok 6" in summary or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert "ok 6" in summary and "judge scene-graph" in summary
        assert by_model["data"][0][:3] == ["painter", 6, 6] and by_model["data"][0][3] == 1.0
        assert len(items["data"]) == 6 and all(row[6] == "all clauses hold" for row in items["data"])
        assert {row[0] for row in by_node["data"]} >= {"geneval/counting"}
        with pytest.raises(ApiError, match="cannot score the rubric"):
            call(client, url, "evaluate_create", ["bad", ["painter"], "scene-graph", "edit", "geneval", 4, "", "",
                                                  None, 128, 0, 1])
        with pytest.raises(ApiError, match="text-only"):
            call(client, url, "evaluate_create", ["bad", ["painter"], "text-only", "t2i", "geneval", 4, "", "",
                                                  None, 128, 0, 1])
