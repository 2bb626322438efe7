"""Open arenas without a server: bad settings refused before anything starts; items made on demand
by matchmaking with every (prompt, backend, seed) generated once; votes, undo and the board are the
batch's; a failing backend is reported and costs no vote; concurrent voters and fillers on SQLite and
PostgreSQL never repeat a combination."""
from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import update

from studio.annotation import AnnotationError, service, voting
from studio.annotation.results import studio_leaderboard
from studio.arena.open_arena import (ArenaError, ArenaSpec, arena_status, list_arenas, open_arena, set_open,
                                     still_filling)
from studio.arena.open_fill import top_up, upcoming_pairs, vote_counts
from studio.arena.open_models import MAX_TRIES, ArenaOutput
from tests.arena.conftest import ENGINES, arena_studio
from tests.support.fake_backends import SolidColor

PROMPTS = "a red apple\na cat on a sofa\ntwo dogs in the snow\na lighthouse at dusk"


def spec(name="arena", **kw) -> ArenaSpec:
    base = dict(name=name, backends=ENGINES, source="text", text=PROMPTS, buffer=3, width=16, height=16)
    return ArenaSpec(**{**base, **kw})


def start(studio, arena, who):
    return voting.annotate(studio.db, studio.settings, who, voting.Start(arena))


def vote(studio, view, who, choice="left", extra=("right",)):
    return voting.annotate(studio.db, studio.settings, who, voting.Vote(view.assignment_id, choice, list(extra)))


@pytest.mark.parametrize("change, message", [
    (dict(backends=["red-engine"]), "at least two backends"),
    (dict(backends=["red-engine", " red-engine "]), "at least two backends"),
    (dict(backends=["red-engine", "no-such-engine"]), "no-such-engine"),
    (dict(text="  \n \n"), "empty"),
    (dict(source="dataset", dataset="nothing-here"), "no samples"),
    (dict(source="nodes", nodes=[]), "at least one taxonomy node"),
    (dict(source="nodes", nodes=["opengpt4o/no-such-node"]), "unknown taxonomy node"),
    (dict(source="file", path=""), "prompt file"),
    (dict(seeds=0), "seeds must be a whole number between 1 and 16"),
    (dict(buffer=1000), "buffer must be a whole number between 1 and 100"),
    (dict(time_limit_s=2), "time limit s must be a whole number between 10 and 3600"),
    (dict(policy="greedy"), "matchmaking policy"),
    (dict(width=4), "between 8 and 2048"),
    (dict(overlap=0), "overlap"),
    (dict(criteria="Bad Criterion!"), "criterion"),
    (dict(task="edit"), "no source image"),
])
def test_bad_settings_are_refused_before_anything_starts(studio_db, change, message):
    with pytest.raises(AnnotationError, match=message):
        open_arena(studio_db, spec(**change))
    assert service.list_batches(studio_db) == [] and list_arenas(studio_db) == []


def test_a_taken_name_is_refused(studio_db):
    open_arena(studio_db, spec("taken"))
    with pytest.raises(ArenaError, match="already exists"):
        open_arena(studio_db, spec("taken"))


def test_arena_makes_comparisons_on_demand_and_its_votes_make_the_usual_board(studio_db):
    SolidColor.calls.clear()
    arena = open_arena(studio_db, spec(criteria="instruction_fidelity, visual_clarity"), by="boss")
    batch = service.get_batch(studio_db, arena)
    assert batch.config["kind"] == "open-arena" and batch.criteria == ["instruction_fidelity", "visual_clarity"]
    assert batch.items == 0  # nothing is generated when the arena opens

    made = top_up(studio_db, arena)
    status = arena_status(studio_db, arena)
    assert made.made == 3 and status.ready == 3 and status.items == 3
    assert made.exhausted is False and made.problems == []
    assert top_up(studio_db, arena).made == 0  # the buffer is full

    # three annotators take items; the arena makes the next ones as they are taken
    seen: dict[str, set] = {}
    for round_ in range(4):
        for who in ("ann", "bob", "eve"):
            view = start(studio_db, arena, who).item
            assert view is not None and view.criteria == ["instruction_fidelity", "visual_clarity"]
            turn = vote(studio_db, view, who, "left" if round_ % 2 else "tie")
            seen.setdefault(who, set()).add(turn.receipt.item_id)
            top_up(studio_db, arena)
    items = service.batch_items(studio_db, arena)
    combos = [(it["prompt"], frozenset((it["model_a"], it["model_b"]))) for it in items]
    assert len(combos) == len(set(combos))  # no prompt/pair/seed made twice
    assert all(len(ids) == 4 for ids in seen.values())
    # every (backend, prompt) was generated once, whichever pairs reused it
    assert max(Counter(SolidColor.calls).values()) == 1
    assert {name for name, _ in SolidColor.calls} == set(ENGINES)

    # undo is the batch's: the withdrawn vote leaves the counts matchmaking reads
    score, battles = vote_counts(studio_db, arena, ENGINES)
    assert battles.sum() / 2 == 12
    voting.annotate(studio_db.db, studio_db.settings, "ann", voting.Undo(arena))
    assert vote_counts(studio_db, arena, ENGINES)[1].sum() / 2 == 11

    board = studio_leaderboard(studio_db, arena, bootstrap=0)
    assert {m["model"] for m in board["models"]} == set(ENGINES)
    assert set(board["criteria"]) == {"instruction_fidelity", "visual_clarity"}
    assert board["selection"]["votes"] == 11

    set_open(studio_db, arena, False)
    assert top_up(studio_db, arena).made == 0 and arena_status(studio_db, arena).status == "closed"


def _side_of(studio, view, model) -> str:
    """Which button shows ``model`` on the annotator's item (read from the stored assignment)."""
    from studio.annotation.models import Assignment, ComparisonItem

    with studio.db.session() as s:
        a = s.get(Assignment, view.assignment_id)
        item = s.get(ComparisonItem, a.item_id)
    return "left" if (item.model_a == model) == a.a_on_left else "right"


def _models_of(studio, view) -> set:
    from studio.annotation.models import Assignment, ComparisonItem

    with studio.db.session() as s:
        item = s.get(ComparisonItem, s.get(Assignment, view.assignment_id).item_id)
        return {item.model_a, item.model_b}


def test_the_votes_so_far_choose_the_next_pair(studio_db):
    """red beats green and blue every time, green and blue split: the pair whose order is in doubt,
    green against blue, is what the arena makes next (active matchmaking on the arena's own votes)."""
    arena = open_arena(studio_db, spec(text="one prompt\nanother prompt", seeds=16, buffer=30))
    top_up(studio_db, arena)
    splits = 0
    while (view := start(studio_db, arena, "ann").item) is not None:
        pair = _models_of(studio_db, view)
        if "red-engine" in pair:
            winner = "red-engine"
        else:
            winner, splits = ("green-engine", "blue-engine")[splits % 2], splits + 1
        side = _side_of(studio_db, view, winner)
        vote(studio_db, view, "ann", side, (side,))
    score, battles = vote_counts(studio_db, arena, ENGINES)
    assert battles.sum() / 2 == 30 and battles[0, 1] + battles[0, 2] >= 10
    assert score[0, 1] == battles[0, 1] and score[0, 2] == battles[0, 2]  # red won every battle
    assert set(upcoming_pairs(studio_db, arena)[0]) == {"green-engine", "blue-engine"}
    assert top_up(studio_db, arena, most=1).made == 1
    newest = service.batch_items(studio_db, arena)[-1]
    assert {newest["model_a"], newest["model_b"]} == {"green-engine", "blue-engine"}


def test_every_combination_is_made_once_then_the_arena_says_it_is_exhausted(studio_db):
    arena = open_arena(studio_db, spec(text="one prompt\nanother prompt", buffer=100, seeds=2))
    report = top_up(studio_db, arena)
    assert report.made == 2 * 2 * 3 and report.exhausted
    status = arena_status(studio_db, arena)
    assert status.items == status.combinations == 12 and status.outputs == {"done": 2 * 2 * 3}
    keys = {it["item_key"] for it in service.batch_items(studio_db, arena)}
    assert len(keys) == 12


def test_an_arena_still_filling_is_told_apart_from_one_that_is_done(studio_db):
    """An annotator who finds nothing ready in an open arena is told more is coming, not that it is done."""
    arena = open_arena(studio_db, spec(text="one prompt\nanother prompt", buffer=1))
    top_up(studio_db, arena)
    assert still_filling(studio_db, arena)
    set_open(studio_db, arena, False)
    assert not still_filling(studio_db, arena)  # closed: nothing more will come
    full = open_arena(studio_db, spec(name="full", text="one prompt\nanother prompt", buffer=100))
    assert top_up(studio_db, full).exhausted
    assert not still_filling(studio_db, full)  # every combination made
    assert not still_filling(studio_db, service.create_batch(studio_db, "fixed"))  # not an arena


def test_a_failing_backend_is_reported_and_costs_no_vote(studio_db):
    arena = open_arena(studio_db, spec(backends=["red-engine", "fragile-engine"], text="a fine prompt\nFAIL here",
                                       buffer=1))
    top_up(studio_db, arena)
    view = start(studio_db, arena, "ann").item
    assert view.prompt == "a fine prompt"
    turn = vote(studio_db, view, "ann")
    assert turn.item is None  # the only other prompt fails
    report = top_up(studio_db, arena)
    assert report.made == 0 and "fragile-engine" in report.problems[0] and "refused" in report.problems[0]
    status = arena_status(studio_db, arena)
    assert "refused this prompt" in status.problem and status.outputs.get("failed") == 1
    assert status.votes == 1  # the vote stands
    assert top_up(studio_db, arena).problems == []  # the failed combination is not tried again at once


def _pause_over(studio, arena):
    """Move the failed outputs' latest try back past their pause (the longest the retry rule waits)."""
    with studio.db.session() as s:
        s.execute(update(ArenaOutput).where(ArenaOutput.arena_id == arena, ArenaOutput.status == "failed")
                  .values(started_at=datetime.now(timezone.utc) - timedelta(days=1)))


def test_a_failed_output_is_tried_again_after_a_pause_a_few_times_and_at_once_when_reopened(studio_db):
    arena = open_arena(studio_db, spec(backends=["red-engine", "fragile-engine"], text="FAIL here", buffer=1))
    assert "refused" in top_up(studio_db, arena).problems[0]
    for tries in range(2, MAX_TRIES + 1):
        assert top_up(studio_db, arena).problems == []  # pausing
        _pause_over(studio_db, arena)
        assert len(top_up(studio_db, arena).problems) == 1  # tried again, failed again
        status = arena_status(studio_db, arena)
        assert status.outputs == {"done": 1, "failed": 1} and f"up to {MAX_TRIES} times" in status.text()
    _pause_over(studio_db, arena)
    report = top_up(studio_db, arena)
    assert report.problems == [] and report.exhausted  # no tries left: the combination is given up
    assert still_filling(studio_db, arena)

    set_open(studio_db, arena, False)
    set_open(studio_db, arena, True)  # the admin mended the backend and opened the arena again
    assert arena_status(studio_db, arena).outputs == {"done": 1}
    assert len(top_up(studio_db, arena).problems) == 1  # tried at once


def test_an_image_that_takes_longer_than_the_time_limit_is_stopped_and_reported(tmp_path):
    studio = arena_studio(tmp_path / "slow")
    try:
        arena = open_arena(studio, spec(backends=["red-engine", "slow-engine"], text="slow prompt", time_limit_s=10))
        report = top_up(studio, arena)
        assert report.made == 0 and "time limit of 10 s" in report.problems[0]
        assert "slow-engine" in arena_status(studio, arena).problem
    finally:
        studio.close()


def test_prompts_come_from_taxonomy_nodes_and_from_a_dataset(studio_db):
    arena = open_arena(studio_db, spec("from-nodes", source="nodes", nodes=["opengpt4o/gen/spatial"], count=6))
    status = arena_status(studio_db, arena)
    assert status.prompts == 6 and status.source["kind"] == "nodes"
    top_up(studio_db, arena)
    assert all(it["taxonomy_id"].startswith("opengpt4o/gen/spatial")
               for it in service.batch_items(studio_db, arena))

    studio_db.samples.add(task="text-to-image", prompt="a stored prompt", dataset="mine")
    from_data = open_arena(studio_db, spec("from-dataset", source="dataset", dataset="mine"))
    assert arena_status(studio_db, from_data).prompts == 1


def test_concurrent_voters_and_fillers_never_repeat_a_combination_nor_generate_twice(db_url, tmp_path):
    """Two annotators vote while two workers, each with its own studio services as two app processes
    have, top the arena up, until every combination is made and judged: each (prompt, backend, seed)
    generated once, each prompt × pair once, each item judged once, nobody shown one twice."""
    studio = arena_studio(tmp_path / "concurrent", db_url)
    other = arena_studio(tmp_path / "concurrent", db_url)  # the second process's database pool and backends
    try:
        SolidColor.calls.clear()
        prompts = "\n".join(f"prompt number {k}" for k in range(5))
        arena = open_arena(studio, spec(text=prompts, buffer=2))
        total = 5 * 3
        errors: list[BaseException] = []
        receipts: dict[str, list[str]] = {"ann": [], "bob": []}
        done = threading.Event()
        barrier = threading.Barrier(4)

        def filler(services) -> None:
            try:
                barrier.wait()
                while not done.is_set():
                    if top_up(services, arena).exhausted:
                        return
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        def voter(who: str) -> None:
            try:
                barrier.wait()
                while not done.is_set():
                    view = start(studio, arena, who).item
                    if view is None:
                        if arena_status(studio, arena).votes >= total:
                            done.set()
                        continue
                    receipts[who].append(vote(studio, view, who).receipt.item_id)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
                done.set()

        threads = [threading.Thread(target=filler, args=(services,)) for services in (studio, other)] + \
                  [threading.Thread(target=voter, args=(w,)) for w in receipts]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors
        assert not any(t.is_alive() for t in threads)

        items = service.batch_items(studio, arena)
        assert len(items) == total
        combos = [(it["prompt"], frozenset((it["model_a"], it["model_b"]))) for it in items]
        assert len(set(combos)) == total
        assert Counter(SolidColor.calls) == Counter({(b, f"prompt number {k}"): 1 for b in ENGINES for k in range(5)})
        judged = receipts["ann"] + receipts["bob"]
        assert sorted(judged) == sorted(it["id"] for it in items)  # each item judged once, by one of them
        assert arena_status(studio, arena).votes == total
    finally:
        other.close()
        studio.close()


def test_an_edit_arena_takes_prompts_and_source_images_from_a_dataset(studio_db):
    from PIL import Image

    source = studio_db.samples.store_image(Image.new("RGB", (16, 16), "white"))
    for instruction in ("make it blue", "add a border"):
        studio_db.samples.add(task="edit", prompt=instruction, input_images=[source], dataset="edits")
    arena = open_arena(studio_db, spec(task="edit", source="dataset", dataset="edits", text=""))
    assert service.get_batch(studio_db, arena).criteria == ["instruction_following", "preservation", "quality"]
    top_up(studio_db, arena)
    items = service.batch_items(studio_db, arena)
    assert len(items) == 3 and {it["task"] for it in items} == {"edit"}
    assert {it["source_image"] for it in items} == {source}
