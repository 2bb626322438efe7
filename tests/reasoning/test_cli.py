"""`python -m studio reason`: headless runs print the interleaved answer and store the run."""
from __future__ import annotations

import json

import pytest

from tests.reasoning.conftest import write_backends_config


@pytest.fixture
def cli_env(monkeypatch, data_dir, tmp_path, stub):
    cfg = write_backends_config(tmp_path / "backends.yaml", stub.base_url)
    monkeypatch.setenv("STUDIO_DATA_DIR", str(data_dir))
    monkeypatch.setenv("STUDIO_BACKENDS_CONFIG", cfg)
    yield


def test_render_an_example_and_export_it(cli_env, capsys):
    from studio.cli import main

    code = main(["reason", "--example", "ripe-banana", "--image-backend", "painter", "--export", "cli", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = out.split("\n{")[0].splitlines()
    assert lines[0].startswith("To decide") and lines[1].startswith("[image ready: a handful of ripe red cherries]")
    assert "Final answer: B. Banana" in out and "exported as sample" in err
    run = json.loads("{" + out.split("\n{", 1)[1])
    assert run["status"] == "done" and run["sample_id"] and run["mode"] == "mm_text"


def test_ask_the_reasoner_and_report_user_errors(cli_env, stub, capsys):
    from studio.cli import main

    stub.enqueue(text="It is the cat.\n[image: a cat]")
    assert main(["reason", "an animal with nine lives", "--reasoner", "reasoner", "--image-backend", "painter"]) == 0
    assert "[image ready: a cat]" in capsys.readouterr().out
    assert main(["reason", "what is this?", "--mode", "mm_image", "--reasoner", "reasoner",
                 "--image-backend", "painter"]) == 2
    assert "needs an input image" in capsys.readouterr().err
