"""Headless use and registry wiring: `python -m studio render/edit`, studio.backends.get('procedural')."""
from __future__ import annotations

import json

import pytest

from backends.base import Capability
from backends.procedural import ProceduralBackend
from studio.cli import main
from studio.images import load_image, read_png_json


@pytest.fixture()
def cli_env(data_dir, monkeypatch):
    monkeypatch.setenv("STUDIO_DATA_DIR", str(data_dir))
    return data_dir


def test_registry_builds_the_procedural_backend(studio):
    backend = studio.backends.get("procedural")
    assert isinstance(backend, ProceduralBackend)
    assert backend.supports(Capability.TEXT_TO_IMAGE) and backend.supports(Capability.EDIT)
    assert "procedural" in [e.name for e in studio.backends.by_capability(Capability.EDIT)]


def test_render_then_edit_round_trip(cli_env, tmp_path, capsys):
    out = tmp_path / "a.png"
    assert main(["render", "a photo of a red car left of a dog", "--seed", "3", "--size", "128", "--out", str(out), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed) == {"scene_graph", "honored", "ignored"}
    assert read_png_json(load_image(out), "scene_graph") == printed["scene_graph"]
    edited = tmp_path / "b.png"
    assert main(["edit", str(out), "make the car blue", "--out", str(edited), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [o["color"] for o in result["scene_graph"]["objects"] if o["class"] == "car"] == ["blue"]
    assert result["honored"] == ["make the car blue"]


def test_user_errors_exit_2_with_one_line(cli_env, tmp_path, capsys):
    out = tmp_path / "a.png"
    assert main(["render", "a cat", "--out", str(out), "--backend", "nope"]) == 2
    assert "not configured" in capsys.readouterr().err
    assert main(["render", "a cat", "--out", str(tmp_path / "missing" / "a.png")]) == 2
    main(["render", "a cat", "--size", "64", "--out", str(out)])
    capsys.readouterr()
    assert main(["edit", str(out), "remove the giraffe", "--out", str(tmp_path / "b.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "giraffe" in err
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    assert main(["edit", str(bad), "make it sepia", "--out", str(tmp_path / "c.png")]) == 2
    with pytest.raises(SystemExit):
        main(["render", "a cat", "--size", "5", "--out", str(out)])
