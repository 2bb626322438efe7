"""`python -m studio editchat`: a headless multi-turn session, then list, show and export it."""
from __future__ import annotations

import json

from studio.cli import main
from tests.editing.conftest import picture, write_backends


def test_editchat_cli_runs_lists_shows_and_exports(data_dir, monkeypatch, capsys):
    monkeypatch.setenv("STUDIO_DATA_DIR", str(data_dir))
    monkeypatch.setenv("STUDIO_BACKENDS_CONFIG", str(write_backends(data_dir)))
    src = data_dir / "src.png"
    picture().save(src)
    assert main(["editchat", "run", str(src), "red box", "please fail", "blue box",
                 "--backend", "painter", "--owner", "ann", "--export", "triplets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    turns = [json.loads(x) for x in lines[:3]]
    assert [t["status"] for t in turns] == ["done", "failed", "done"]
    assert "cannot do that on purpose" in turns[1]["error"]
    session = lines[3].split()[1]
    assert lines[4].startswith("exported 2 sample(s)")
    assert main(["editchat", "list", "--owner", "ann"]) == 0
    assert capsys.readouterr().out.startswith(session)
    assert main(["editchat", "show", session, "--owner", "ann"]) == 0
    assert "#3 blue box [painter]  ◀ head" in capsys.readouterr().out
    assert main(["editchat", "show", session, "--owner", "bob"]) == 2
    assert "no edit session" in capsys.readouterr().err
