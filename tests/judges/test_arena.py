"""A judge voting on a comparison batch: stored apart from human votes, resumable, and trusted per node."""
from __future__ import annotations

import json

import pytest
from PIL import Image

from studio.annotation import service
from studio.annotation.models import PairwiseVote
from studio.annotation.results import studio_battles
from studio.judges import JudgeError
from studio.judges.arena import batch_trust, judge_batch, judge_board, verdict_records

# (red A, red B, taxonomy node, {annotator: winner})
ITEMS = [
    (200, 100, "gen/color", {"ann": "model_a", "bob": "model_a"}),
    (50, 150, "gen/color", {"ann": "model_b", "bob": "tie"}),
    (90, 90, "gen/count", {"ann": "tie", "bob": "model_a"}),
    (10, 250, "gen/count", {"ann": "model_b", "bob": "model_b"}),
    (240, 30, "gen/count", {"ann": "model_b", "bob": "model_a"}),
    (160, 20, "gen/color", {"ann": "model_a", "bob": "model_a"}),
]


def make_batch(studio):
    bid = service.create_batch(studio, "judged", overlap=2, criteria=("overall", "visual_quality"))
    ids = []
    for k, (ra, rb, node, _) in enumerate(ITEMS):
        sa = studio.samples.store_image(Image.new("RGB", (16, 16), (ra, 0, 0)))
        sb = studio.samples.store_image(Image.new("RGB", (16, 16), (rb, 0, 1)))
        ids.append(service.add_comparison(studio, bid, prompt=f"p{k}", task="text-to-image", output_a=sa,
                                          model_a="m1", output_b=sb, model_b="m2", taxonomy_id=node))
    with studio.db.session() as s:  # human votes as the vote path stores them
        for item_id, (_, _, _, humans) in zip(ids, ITEMS):
            for ann, w in humans.items():
                s.add(PairwiseVote(item_id=item_id, batch_id=bid, assignment_id="x", annotator=ann,
                                   shown_choice="left", a_on_left=True, winner=w,
                                   criteria={"overall": w, "visual_quality": w}))
    return bid


def test_judge_votes_apart_from_humans_resumes_and_reports_trust(judge_db_studio, stub):
    judge_studio = judge_db_studio
    bid = make_batch(judge_studio)
    stub.enqueue(status=500)  # the first call fails for good after retries ...
    stub.enqueue(status=500)
    stub.enqueue(status=500)
    out = judge_batch(judge_studio, "judged", "vlm", criteria=["overall"], concurrency=1)
    assert out["counts"]["overall"]["failed"] == 1 and out["counts"]["overall"]["ok"] == 5
    calls = len(stub.requests)
    again = judge_batch(judge_studio, "judged", "vlm", criteria=["overall"])  # "Retry failed": only that item
    assert again["counts"]["overall"] == {"already": 5, "ok": 1}
    assert len(stub.requests) == calls + 2
    rows = verdict_records(judge_studio, bid)
    assert len(rows) == len(ITEMS) and all(r["annotator"] == "ai:vlm" for r in rows)
    assert [r["winner"] for r in sorted(rows, key=lambda r: r["item_id"])]  # stored
    # the human statistics do not see the judge
    assert set(studio_battles(judge_studio, bid).judge) == {"ann", "bob"}

    trust = batch_trust(judge_studio, "judged", "vlm")
    overall = trust["criteria"]["overall"]
    assert set(overall) == {"(all)", "gen", "gen/color", "gen/count"}
    assert overall["gen"]["pairs"] == 6 and overall["gen"]["agreement_with_humans"] == 1.0
    everything = overall["(all)"]
    assert everything["pairs"] == 6 and everything["position_inconsistent"] == 1
    # judge: a, b, tie, b, a, a; majority: a, -, -, b, -, a -> 3 of 3
    assert everything["agreement_with_humans"] == 1.0 and everything["pairs_with_majority"] == 3
    assert overall["gen/color"]["pairs"] == 3

    board = judge_board(judge_studio, "judged", "vlm")
    assert board["label"] == "AI judge vlm only" and {m["model"] for m in board["models"]} == {"m1", "m2"}
    combined = judge_board(judge_studio, "judged", "vlm", combined=True)
    assert combined["label"].startswith("combined")
    assert sum(m["battles"] for m in combined["models"]) > sum(m["battles"] for m in board["models"])


def test_unknown_criterion_and_unvoted_judge_are_refused(judge_studio, stub):
    make_batch(judge_studio)
    with pytest.raises(JudgeError, match="does not ask"):
        judge_batch(judge_studio, "judged", "vlm", criteria=["style"])
    with pytest.raises(JudgeError, match="has not voted"):
        batch_trust(judge_studio, "judged", "vlm")
    with pytest.raises(JudgeError, match="text-only"):
        judge_batch(judge_studio, "judged", "text-only")
    assert stub.requests == []


def test_cli_batch_and_trust(cli, judge_studio, stub, capsys):
    make_batch(judge_studio)
    assert cli(["judge", "batch", "judged", "--judge", "vlm", "--json"]) == 0
    counts = json.loads(capsys.readouterr().out)["counts"]
    assert counts["overall"]["ok"] == 6 and counts["visual_quality"]["ok"] == 6
    assert cli(["judge", "trust", "judged", "--judge", "vlm", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["criteria"]) == {"overall", "visual_quality"}
