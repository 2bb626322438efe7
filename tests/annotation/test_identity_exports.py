"""Identity and roles in each auth mode; exports of votes (JSONL/CSV) and revealed pairs."""
from __future__ import annotations

import csv
import json
import zipfile

import pytest

from studio.annotation import AnnotationError, results, voting
from studio.auth import AuthError, identify, parse_users, password_checker
from studio.settings import load_settings
from tests.annotation.helpers import make_batch


def test_password_mode_roles_and_checker(tmp_path):
    s = load_settings(data_dir=tmp_path, auth_mode="password", users="ann:pw1,boss:pw2:admin", admins="carol")
    check = password_checker(s)
    assert check("ann", "pw1") and not check("ann", "pw2") and not check("nobody", "pw1") and not check("ann", "")
    assert identify(s, username="boss").role == "admin"
    assert identify(s, username="ann").role == "annotator"
    assert identify(s, username="mallory") is None
    assert identify(s, username=None, typed_name="boss") is None  # a typed name means nothing here
    with pytest.raises(AuthError, match="role of 'x'"):
        parse_users("x:y:owner")
    with pytest.raises(AuthError, match="needs STUDIO_USERS"):
        password_checker(load_settings(data_dir=tmp_path, auth_mode="password"))


def test_oauth_and_open_modes(tmp_path):
    s = load_settings(data_dir=tmp_path, auth_mode="hf-oauth", admins="lead-researcher")
    assert identify(s, oauth_username="lead-researcher").is_admin
    assert identify(s, oauth_username="someone").role == "annotator"
    assert identify(s, oauth_username=None, typed_name="lead-researcher") is None
    assert password_checker(s) is None
    open_admin = load_settings(data_dir=tmp_path)
    assert identify(open_admin, typed_name="  me ").name == "me" and identify(open_admin, typed_name="me").is_admin
    public = load_settings(data_dir=tmp_path, open_mode_role="annotator")
    assert identify(public, typed_name="me").role == "annotator"
    assert identify(public, typed_name="") is None
    with pytest.raises(AuthError, match="names use"):
        identify(public, typed_name="<script>")


def test_app_builds_in_every_auth_mode(tmp_path):
    from studio.core import Studio
    from studio.ui.app import build_app

    for mode in ("hf-oauth", "password"):
        studio = Studio(load_settings(data_dir=tmp_path / mode, auth_mode=mode, users="a:b"))
        try:
            assert "annotate" not in build_app(studio).failed_tabs
        finally:
            studio.close()


def _vote_all(studio, batch_id, names, choices):
    for name in names:
        view = voting.annotate(studio.db, studio.settings, name, voting.Start(batch_id)).item
        while view is not None:
            view = voting.annotate(studio.db, studio.settings, name, voting.Vote(view.assignment_id, next(choices),
                                                             ["tie"] if len(view.criteria) > 1 else ())).item


def test_vote_exports_one_row_per_vote_with_shown_order(studio):
    batch_id, _ = make_batch(studio, "exp", 3, overlap=2, criteria=("overall", "visual_quality"))
    choices = iter(["left", "right", "skip", "tie", "tie_bad", "left"])
    _vote_all(studio, batch_id, ["ann", "bob"], choices)
    jl = results.export_votes(studio, "exp", "jsonl")
    rows = [json.loads(line) for line in jl.read_text().splitlines()]
    assert len(rows) == 6 and {r["annotator"] for r in rows} == {"ann", "bob"}
    for r in rows:
        assert r["shown_left"] in ("model_a", "model_b") and r["shown_choice"] in voting.CHOICES
        if r["shown_choice"] == "left":
            assert r["winner"] == r["shown_left"]
        assert r["latency_ms"] is not None and r["latency_ms"] >= 0
        if r["shown_choice"] != "skip":
            assert r["criteria"]["visual_quality"] == "tie"
    with (results.export_votes(studio, None, "csv")).open() as fh:
        assert len(list(csv.DictReader(fh))) == 6
    battles = results.studio_battles(studio, "exp")
    assert len(battles) == 5  # the skip is not a battle
    assert len(results.studio_battles(studio, "exp", criterion="visual_quality")) == 5
    with pytest.raises(AnnotationError, match="no votes answer"):
        results.studio_battles(studio, "exp", criterion="instruction_fidelity")


def test_pairs_export_reveals_models_and_carries_images(studio):
    batch_id, items = make_batch(studio, "pairs", 2)
    _vote_all(studio, batch_id, ["ann"], iter(["left", "right"]))
    path = results.export_pairs(studio, batch_id)
    with zipfile.ZipFile(path) as zf:
        lines = [json.loads(x) for x in zf.read("pairs.jsonl").decode().splitlines()]
        names = set(zf.namelist())
    assert [p["item_id"] for p in lines] == items
    assert all(p["output_a"] in names and p["output_b"] in names for p in lines)
    assert lines[0]["model_a"] == "model-alpha-zq" and sum(sum(p["votes"].values()) for p in lines) == 2
