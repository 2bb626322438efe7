"""`python -m studio arena open|status|fill|close` headless, and `python -m studio leaderboard` on an arena."""
from __future__ import annotations

import json

from studio.annotation import voting
from studio.cli import main
from tests.arena.conftest import BACKENDS


def _env(monkeypatch, tmp_path):
    (tmp_path / "backends.yaml").write_text(BACKENDS)
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STUDIO_BACKENDS_CONFIG", str(tmp_path / "backends.yaml"))


def test_open_vote_board_and_close_from_the_command_line(monkeypatch, tmp_path, capsys):
    _env(monkeypatch, tmp_path)
    assert main(["arena", "open", "solo", "--backend", "red-engine", "--prompt", "a cat"]) == 2
    assert "at least two backends" in capsys.readouterr().err
    assert main(["arena", "open", "nothing", "--backend", "red-engine", "--backend", "blue-engine"]) == 2
    assert "exactly one prompt source" in capsys.readouterr().err
    assert main(["arena", "open", "seeds", "--backend", "red-engine", "--backend", "blue-engine",
                 "--prompt", "a cat", "--seeds", "99"]) == 2
    assert "seeds must be a whole number between 1 and 16" in capsys.readouterr().err

    assert main(["arena", "open", "cli-arena", "--backend", "red-engine", "--backend", "blue-engine",
                 "--prompt", "a cat", "--prompt", "a dog", "--prompt", "a bird", "--buffer", "2",
                 "--size", "16", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["ready"] == 2 and status["backends"] == ["red-engine", "blue-engine"]
    assert status["criteria"] == ["instruction_fidelity", "visual_clarity"]

    from studio.cli import make_studio

    studio = make_studio()
    try:
        view = voting.annotate(studio.db, studio.settings, "ann", voting.Start("cli-arena")).item
        voting.annotate(studio.db, studio.settings, "ann", voting.Vote(view.assignment_id, "left", ["left"]))
    finally:
        studio.close()
    assert main(["arena", "fill", "cli-arena", "--json"]) == 0
    filled = json.loads(capsys.readouterr().out)
    assert filled["items"] == 3 and filled["votes"] == 1

    assert main(["leaderboard", "--batch", "cli-arena", "--json", "--bootstrap", "0"]) == 0
    board = json.loads(capsys.readouterr().out)
    assert {m["model"] for m in board["models"]} == {"red-engine", "blue-engine"}
    assert set(board["criteria"]) == {"instruction_fidelity", "visual_clarity"}

    assert main(["arena", "close", "cli-arena"]) == 0
    assert "(closed)" in capsys.readouterr().out
    assert main(["arena", "status", "--json"]) == 0
    assert [a["name"] for a in json.loads(capsys.readouterr().out)] == ["cli-arena"]
    assert main(["arena", "status", "no-such-arena"]) == 2
    assert "no comparison batch" in capsys.readouterr().err
