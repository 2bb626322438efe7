"""Annotator quality: gold pairs from the procedural engine, gold accuracy, MACE competence, very fast
votes, and leaving an annotator out of the boards while their votes stay stored."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from studio.annotation import AnnotationError, service
from tests.annotation import helpers
from studio.annotation.quality import LABELS, check_gold, fast_votes, gold_accuracy, mace
from studio.annotation.results import studio_leaderboard, vote_records
from studio.annotation.gold import add_gold_comparisons, gold_count, gold_prompts
from tests.annotation.helpers import make_batch


def test_mace_separates_careful_annotators_from_spammers():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 4, 150)
    votes = []
    for i, t in enumerate(truth):
        for who in ("c1", "c2", "c3", "c4", "always-a", "random"):
            if who.startswith("c"):
                lab = t if rng.random() < 0.85 else rng.integers(4)
            else:
                lab = 0 if who == "always-a" else rng.integers(4)
            votes.append((f"i{i}", who, LABELS[lab]))
    theta = mace(votes)
    assert min(theta[c] for c in ("c1", "c2", "c3", "c4")) > 0.7
    assert max(theta["always-a"], theta["random"]) < 0.2


def test_gold_items_fix_the_truth_for_mace_and_score_gold_accuracy():
    # two annotators disagree on every item; gold says who is right
    answer = {f"g{i}": ("model_a", "model_b")[i % 2] for i in range(20)}
    other = {"model_a": "model_b", "model_b": "model_a"}
    votes = [(g, "right", a) for g, a in answer.items()] + [(g, "wrong", other[a]) for g, a in answer.items()]
    theta = mace(votes, answer)
    assert theta["right"] > 0.8 > 0.2 > theta["wrong"]
    records = [{"annotator": "ann", "winner": w, "gold": "model_a"} for w in ("model_a", "model_a", "tie", "skip")]
    records.append({"annotator": "ann", "winner": "model_b", "gold": None})
    acc = gold_accuracy(records)["ann"]
    assert (acc["gold_votes"], acc["gold_correct"], acc["gold_accuracy"]) == (3, 2, 0.6667)


def test_very_fast_votes_are_counted_and_thresholds_checked():
    records = [{"annotator": "a", "winner": "model_a", "latency_ms": 400},
               {"annotator": "a", "winner": "skip", "latency_ms": 100},
               {"annotator": "b", "winner": "tie", "latency_ms": 4000}]
    assert fast_votes(records, 1500) == {"a": 1}
    with pytest.raises(AnnotationError, match="positive number of milliseconds"):
        fast_votes(records, 0)


def test_contradicting_gold_answers_and_bad_rates_are_refused():
    same = {"prompt": "a red cat", "source_image": None}
    with pytest.raises(AnnotationError, match="different winners"):
        check_gold([{**same, "output_a": "x", "output_b": "y", "provenance": {"gold": "model_a"}},
                    {**same, "output_a": "y", "output_b": "x", "provenance": {"gold": "model_a"}}])
    with pytest.raises(AnnotationError, match="model_a or model_b"):
        check_gold([{**same, "output_a": "x", "output_b": "y", "provenance": {"gold": "tie"}}])
    for bad in (1.5, 0.6, -0.1, "0.1", True):
        with pytest.raises(AnnotationError, match=r"from 0 \(none\) to 0.5"):
            gold_count(10, bad)
    assert gold_count(9, 0.1) == 1 and gold_count(90, 0.1) == 10


def test_gold_prompts_break_one_detail():
    import random

    rng = random.Random(1)
    for kind in ("colour", "count", "position"):
        faithful, broken = gold_prompts(kind, rng)
        assert faithful != broken and len(faithful.split()) == len(broken.split())


def test_gold_pairs_look_like_any_item_and_feed_quality_not_boards(studio):
    batch_id, items = make_batch(studio, "gold-mix", 6, overlap=2)
    with pytest.raises(AnnotationError, match="adds no gold items"):
        add_gold_comparisons(studio, batch_id, rate=0.0)
    gold_ids = add_gold_comparisons(studio, batch_id, rate=0.25, seed=3, width=64)
    assert len(gold_ids) == 2
    assert add_gold_comparisons(studio, batch_id, rate=0.25, seed=3, width=64) == []  # a rerun adds none
    order = [it["id"] for it in service.batch_items(studio, batch_id)]
    assert [order.index(g) for g in gold_ids] == [1, 5]  # mixed in, not all at the end
    faithful = {}  # image shown for the prompt as written, by gold item
    for it in service.batch_items(studio, batch_id):
        if it["provenance"].get("gold"):
            faithful[it["prompt"]] = it["output_a"] if it["provenance"]["gold"] == "model_a" else it["output_b"]
    views = {}
    for who in ("ann", "bob"):
        while (view := helpers.next_item(studio, batch_id, who)) is not None:
            views[view.assignment_id] = view
            # ann picks the faithful image of a gold pair, bob the broken one; both pick left otherwise
            right_is_faithful = view.right_image == faithful.get(view.prompt)
            left_is_faithful = view.left_image == faithful.get(view.prompt)
            choice = "left"
            if who == "ann" and right_is_faithful or who == "bob" and left_is_faithful:
                choice = "right"
            helpers.vote(studio, view.assignment_id, who, choice)
    shown = [dataclasses.asdict(v) for v in views.values()]
    assert len({tuple(sorted(v)) for v in shown}) == 1  # the same fields for gold and ordinary items
    assert not any("gold" in str(value) for v in shown for value in v.values())
    records = vote_records(studio, batch_id)
    assert sum(1 for r in records if r["gold"]) == 4
    board = studio_leaderboard(studio, batch_id, bootstrap=0)
    assert sum(r["battles"] for r in board["models"]) == 2 * 12  # only the ordinary items' votes
    quality = {q["annotator"]: q for q in board["annotators"]}
    assert quality["ann"]["gold_votes"] == quality["bob"]["gold_votes"] == 2
    assert (quality["ann"]["gold_accuracy"], quality["bob"]["gold_accuracy"]) == (1.0, 0.0)
    from studio.annotation.report import ANNOTATOR_COLUMNS, build_report
    from studio.annotation.results import studio_board

    battles, full = studio_board(studio, batch_id, bootstrap=0)
    table = {row[0]: dict(zip(ANNOTATOR_COLUMNS, row)) for row in build_report(battles, board=full).annotators}
    assert (table["ann"]["gold accuracy"], table["bob"]["gold accuracy"]) == ("100% of 2", "0% of 2")


def test_excluding_an_annotator_changes_the_boards_but_keeps_the_votes(studio):
    batch_id, _ = make_batch(studio, "exclude", 4, overlap=2)
    for who, choice in (("ann", "left"), ("spammer", "right")):
        while (view := helpers.next_item(studio, batch_id, who)) is not None:
            helpers.vote(studio, view.assignment_id, who, choice)
    board = studio_leaderboard(studio, batch_id, exclude=("spammer",), bootstrap=0)
    assert board["selection"]["votes"] == 4 and board["selection"]["excluded"] == ["spammer"]
    assert {q["annotator"] for q in board["annotators"]} == {"ann", "spammer"}
    assert service.get_batch(studio, batch_id).votes == 8


def test_an_admins_exclusion_is_a_fact_that_the_boards_follow(studio):
    from studio.arena.exclusions import exclude_annotator, excluded_annotators, include_annotator

    batch_id, _ = make_batch(studio, "stored-exclusion", 4, overlap=2)
    for who, choice in (("ann", "left"), ("spammer", "right")):
        while (view := helpers.next_item(studio, batch_id, who)) is not None:
            helpers.vote(studio, view.assignment_id, who, choice)
    with pytest.raises(AnnotationError, match="name the annotator"):
        exclude_annotator(studio, "  ", by="boss")
    with pytest.raises(AnnotationError, match="not left out"):
        include_annotator(studio, "ann", by="boss")
    exclude_annotator(studio, "spammer", by="boss", reason="always picks B")
    assert excluded_annotators(studio) == {"spammer"}
    board = studio_leaderboard(studio, batch_id, bootstrap=0)
    assert board["selection"]["excluded"] == ["spammer"] and board["selection"]["votes"] == 4
    include_annotator(studio, "spammer", by="boss")
    assert excluded_annotators(studio) == set()
    assert studio_leaderboard(studio, batch_id, bootstrap=0)["selection"]["votes"] == 8
    assert service.get_batch(studio, batch_id).votes == 8
