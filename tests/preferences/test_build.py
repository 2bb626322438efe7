"""Preference datasets from a known set of votes, on SQLite and PostgreSQL; the headless build command."""
from __future__ import annotations

import json

import pytest

from studio.annotation import service
from studio.preferences.build import PreferenceError, build_preferences
from studio.preferences.pickapic import read_pairs, write_pairs
from tests.annotation import helpers
from tests.annotation.helpers import make_batch


def _studio_for(url, tmp_path):
    from studio.core import Studio
    from studio.settings import load_settings

    return Studio(load_settings(data_dir=tmp_path / "d", database_url=url))


#: prompt -> the choices of three annotators, by side: "a", "b", "tie", "bad" (both bad), "skip"
VOTES = {
    "prompt 0": ["a", "a", "b"],        # A wins, agreement 2/3
    "prompt 1": ["b", "b", "b"],        # B wins, agreement 1
    "prompt 2": ["a", "b", "skip"],     # split: contested, left out
    "prompt 3": ["tie", "bad", "a"],    # ties outnumber: a tie
    "prompt 4": ["a", "skip", "skip"],  # A wins, agreement 1
    # prompt 5: no votes
}


def _cast(studio, batch_id, items_by_prompt):
    for k in range(3):
        annotator = f"ann{k}"
        while True:
            view = helpers.next_item(studio, batch_id, annotator)
            if view is None:
                break
            want = VOTES.get(view.prompt, ["skip"] * 3)[k]
            out_a = items_by_prompt[view.prompt]["output_a"]
            a_left = view.left_image == out_a
            choice = {"a": "left" if a_left else "right", "b": "right" if a_left else "left",
                      "tie": "tie", "bad": "tie_bad", "skip": "skip"}[want]
            helpers.vote(studio, view.assignment_id, annotator, choice)


def test_a_known_vote_set_gives_exactly_the_expected_pairs(db_url, tmp_path):
    studio = _studio_for(db_url, tmp_path)
    try:
        batch_id, _ = make_batch(studio, "prefs", 6, overlap=3)
        items = {i["prompt"]: i for i in service.batch_items(studio, batch_id)}
        _cast(studio, batch_id, items)
        result = build_preferences(studio, "prefs")
        got = {(p.caption, p.label_0, p.weight) for p in result.pairs}
        assert got == {("prompt 0", 1.0, round(2 / 3, 4)), ("prompt 1", 0.0, 1.0), ("prompt 4", 1.0, 1.0)}
        for p in result.pairs:  # image_0 is always output A, image_1 output B
            assert p.image_0 == str(studio.images.find(items[p.caption]["output_a"]))
            assert p.image_1 == str(studio.images.find(items[p.caption]["output_b"]))
        c = result.counts
        assert (c["pairs"], c["ties"], c["contested"], c["unvoted"], c["comparisons"]) == (3, 1, 1, 1, 6)
        # make_batch puts odd prompts under gen/objects, even ones under gen/text
        assert dict(result.by_taxonomy) == {"gen/text": 2, "gen/objects": 1}
        assert "| gen/text | 2 |" in result.preview_markdown()

        kept = build_preferences(studio, batch_id, keep_ties=True)
        assert [(p.caption, p.label_0) for p in kept.pairs if p.label_0 == 0.5] == [("prompt 3", 0.5)]

        write_pairs(result.pairs, tmp_path / "out")
        back = read_pairs(tmp_path / "out")
        assert [(p.caption, p.label_0) for p in back] == [(p.caption, p.label_0) for p in result.pairs]
        with pytest.raises(PreferenceError, match="not known"):
            build_preferences(studio, "prefs", source="crowd")
    finally:
        studio.close()


#: prompt -> the judge "vlm"'s verdict as the judges area stores it (status, winner from the item's side)
VERDICTS = {
    "prompt 0": ("ok", "model_b"),
    "prompt 1": ("ok", "model_b"),
    "prompt 2": ("ok", "model_a"),
    "prompt 3": ("ok", "tie"),       # the judge's answer flipped with the order
    "prompt 4": ("failed", None),    # no final verdict: does not count
    "prompt 5": ("ok", "model_a"),
}


def _judge(studio, batch_id, items):
    from studio.judges.models import JudgeVerdict

    with studio.db.session() as s:
        for prompt, (status, winner) in VERDICTS.items():
            item_id = items[prompt]["id"]
            s.add(JudgeVerdict(batch_id=batch_id, item_id=item_id, judge="vlm", criterion="overall",
                               status=status, winner=winner, consistent=winner != "tie"))
            # another criterion of the same judge and another judge never count for "judge:vlm"
            s.add(JudgeVerdict(batch_id=batch_id, item_id=item_id, judge="vlm", criterion="visual_quality",
                               status="ok", winner="model_a", consistent=True))
        s.add(JudgeVerdict(batch_id=batch_id, item_id=items["prompt 1"]["id"], judge="other", criterion="overall",
                           status="ok", winner="model_a", consistent=True))


def test_human_judge_and_both_sources_give_exactly_the_expected_pairs(db_url, tmp_path):
    studio = _studio_for(db_url, tmp_path)
    try:
        batch_id, _ = make_batch(studio, "mixed", 6, overlap=3)
        items = {i["prompt"]: i for i in service.batch_items(studio, batch_id)}
        _cast(studio, batch_id, items)
        _judge(studio, batch_id, items)

        def pairs(source):
            result = build_preferences(studio, "mixed", source=source)
            return {(p.caption, p.label_0, p.weight) for p in result.pairs}, result.counts

        human, _ = pairs("human")
        assert human == {("prompt 0", 1.0, round(2 / 3, 4)), ("prompt 1", 0.0, 1.0), ("prompt 4", 1.0, 1.0)}
        judged, c = pairs("judge:vlm")
        assert judged == {("prompt 0", 0.0, 1.0), ("prompt 1", 0.0, 1.0), ("prompt 2", 1.0, 1.0),
                          ("prompt 5", 1.0, 1.0)}
        assert (c["ties"], c["unvoted"], c["votes"]) == (1, 1, 5)
        # the judge is one more annotator: prompt 0 becomes 2-2 (contested), prompt 2 is decided 2-1
        both, c = pairs("both:vlm")
        assert both == {("prompt 1", 0.0, 1.0), ("prompt 2", 1.0, round(2 / 3, 4)), ("prompt 4", 1.0, 1.0),
                        ("prompt 5", 1.0, 1.0)}
        assert (c["contested"], c["ties"], c["unvoted"]) == (1, 1, 0)
        other, _ = pairs("judge:other")
        assert other == {("prompt 1", 1.0, 1.0)}

        with pytest.raises(PreferenceError, match="several judges: other, vlm"):
            build_preferences(studio, "mixed", source="both")
        with pytest.raises(PreferenceError, match="judges that voted: other, vlm"):
            build_preferences(studio, "mixed", source="judge:nobody")
        with pytest.raises(PreferenceError, match="not known"):
            build_preferences(studio, "mixed", source="judge:")
    finally:
        studio.close()


def test_prefs_build_command_writes_pick_a_pic_rows(studio, tmp_path, monkeypatch, capsys):
    from studio.cli import main

    batch_id, _ = make_batch(studio, "cli", 6, overlap=3)
    _cast(studio, batch_id, {i["prompt"]: i for i in service.batch_items(studio, batch_id)})
    monkeypatch.setattr("studio.cli.prefs.make_studio", lambda: studio)
    assert main(["prefs", "build", "cli", "--out", str(tmp_path / "pairs")]) == 0
    out = capsys.readouterr().out
    assert "3 decided pairs" in out
    rows = [json.loads(line) for line in (tmp_path / "pairs" / "pairs.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and all((tmp_path / "pairs" / r["jpg_0"]).is_file() for r in rows)
    assert main(["prefs", "build", "nope", "--out", str(tmp_path / "x")]) == 2


def test_the_built_folder_stays_inside_the_studios_preferences_folder(studio):
    from studio.preferences.build import pairs_folder

    root = studio.settings.data_dir / "preferences"
    for batch, source in (("../../etc", "human"), ("..", "judge:../x"), ("a/b", "both:/tmp")):
        folder = pairs_folder(studio, batch, source)
        assert folder.parent == root and folder.name not in (".", "..") and "/" not in folder.name
