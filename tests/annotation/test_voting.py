"""Assignment and voting in the engine: blind views, idempotent votes, undo as a retraction, overlap
under concurrency, all through the one entry point ``voting.annotate``."""
from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from studio.annotation import AnnotationError, results, service, views, voting
from studio.annotation.models import Assignment, ComparisonItem, PairwiseVote, Retraction
from studio.annotation.voting import Start, Undo, Vote
from studio.db.base import utcnow
from tests.annotation.helpers import make_batch


def _studio_for(url, tmp_path, **settings):
    from studio.core import Studio
    from studio.settings import load_settings

    return Studio(load_settings(data_dir=tmp_path / "d", database_url=url, **settings))


def next_item(studio, batch, who):
    return voting.annotate(studio.db, studio.settings, who, Start(batch)).item


def vote(studio, token, who, choice, criteria=()):
    return voting.annotate(studio.db, studio.settings, who, Vote(token, choice, criteria)).receipt


def test_views_are_blind_and_sides_map_back_to_models(studio):
    batch_id, items = make_batch(studio, "blind", 6)
    seen_left_a = set()
    for _ in range(6):
        view = next_item(studio, batch_id, "ann")
        assert "model-" not in repr(view)  # nothing in what the annotator gets names a model
        receipt = vote(studio, view.assignment_id, "ann", "left")
        with studio.db.session() as s:
            a = s.get(Assignment, view.assignment_id)
            item = s.get(ComparisonItem, a.item_id)
        expected_left = item.model_a if a.a_on_left else item.model_b
        assert receipt.left_model == expected_left
        assert receipt.winner == ("model_a" if a.a_on_left else "model_b")
        assert view.left_image == (item.output_a if a.a_on_left else item.output_b)
        seen_left_a.add(a.a_on_left)
        assert "A was" in receipt.text()
    assert next_item(studio, batch_id, "ann") is None


def test_view_image_drops_metadata(studio):
    from PIL import Image

    sha = studio.samples.store_image(Image.new("RGB", (4, 4)), text={"backend": "model-secret"})
    assert "model-secret" in studio.images.open(sha).info.get("backend", "")
    assert studio.images.open(sha).info and views.view_image(studio.images, sha).info == {}
    served = views.view_file(studio.images, sha)
    assert b"model-secret" not in open(served, "rb").read()
    assert sha not in served  # the view name does not reveal the stored id (served elsewhere with metadata)
    assert views.view_file(studio.images, sha) == served


def test_view_files_not_handed_out_for_a_day_are_pruned_and_handed_ones_stay(studio):
    import os
    import time

    from PIL import Image

    shas = [studio.samples.store_image(Image.new("RGB", (4, 4), (k, 0, 0))) for k in range(3)]
    forgotten, shown_again, fresh = (views.view_file(studio.images, sha) for sha in shas)
    two_days_ago = time.time() - 2 * 86400
    for path in (forgotten, shown_again):
        os.utime(path, (two_days_ago, two_days_ago))
    assert views.view_file(studio.images, shas[1]) == shown_again  # a page is handed it again
    assert views.prune() >= 1
    assert not os.path.exists(forgotten)
    assert os.path.exists(shown_again) and os.path.exists(fresh)
    again = views.view_file(studio.images, shas[0])  # asked for after pruning: made again, same name
    assert again == forgotten and os.path.exists(again)


def test_resend_is_idempotent_and_a_changed_resend_keeps_the_first(studio):
    batch_id, _ = make_batch(studio, "idem", 2)
    view = next_item(studio, batch_id, "ann")
    first = vote(studio, view.assignment_id, "ann", "right")
    again = vote(studio, view.assignment_id, "ann", "right")
    other = vote(studio, view.assignment_id, "ann", "left")
    assert not first.duplicate and again.duplicate and other.duplicate
    assert other.shown_choice == "right"
    with studio.db.session() as s:
        assert len(s.scalars(select(PairwiseVote)).all()) == 1


def test_concurrent_resends_store_one_vote(studio):
    batch_id, _ = make_batch(studio, "race", 1)
    view = next_item(studio, batch_id, "ann")
    receipts, barrier = [], threading.Barrier(6)

    def send():
        barrier.wait()
        receipts.append(vote(studio, view.assignment_id, "ann", "tie"))

    threads = [threading.Thread(target=send) for _ in range(6)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sum(not r.duplicate for r in receipts) == 1 and len(receipts) == 6
    with studio.db.session() as s:
        assert len(s.scalars(select(PairwiseVote)).all()) == 1


def test_someone_elses_assignment_and_bad_choices_are_refused(studio):
    batch_id, _ = make_batch(studio, "own", 2)
    view = next_item(studio, batch_id, "ann")
    with pytest.raises(AnnotationError, match="not assigned to you"):
        vote(studio, view.assignment_id, "mallory", "left")
    with pytest.raises(AnnotationError, match="choice must be"):
        vote(studio, view.assignment_id, "ann", "A")
    with pytest.raises(AnnotationError, match="sign in"):
        next_item(studio, batch_id, " ")


def test_reload_resumes_the_same_item_and_progress_counts_the_votes(studio):
    batch_id, _ = make_batch(studio, "resume", 3)
    v1 = next_item(studio, batch_id, "ann")
    assert next_item(studio, batch_id, "ann").assignment_id == v1.assignment_id  # reload
    vote(studio, v1.assignment_id, "ann", "left")
    turn = voting.annotate(studio.db, studio.settings, "ann", Start(batch_id))
    assert turn.item.assignment_id != v1.assignment_id
    p = turn.progress
    assert (p.done, p.available, p.batch_votes, p.batch_target) == (1, 3, 1, 3)
    with pytest.raises(AnnotationError, match="nothing to undo"):
        voting.annotate(studio.db, studio.settings, "bob", Undo(batch_id))


def test_undo_is_a_retraction_and_the_item_never_comes_back_to_who_saw_it_revealed(db_url, tmp_path):
    """vote -> reveal -> undo: the vote and the undo both stay on record; the annotator goes on with
    other items and never sees that one again; it goes back to the pool for someone else; counts,
    results and ratings leave the withdrawn vote out."""
    studio = _studio_for(db_url, tmp_path)
    try:
        batch_id, items = make_batch(studio, "retract", 3, overlap=1)
        first = next_item(studio, batch_id, "ann")
        turn = voting.annotate(studio.db, studio.settings, "ann", Vote(first.assignment_id, "left"))
        assert "A was model-" in turn.receipt.text()  # revealed
        second = turn.item
        undone = voting.annotate(studio.db, studio.settings, "ann", Undo(batch_id))
        assert "withdrawn" in undone.note
        assert undone.item.assignment_id == second.assignment_id  # what was in front of them stays
        assert (undone.progress.done, undone.progress.available, undone.progress.batch_votes) == (0, 2, 0)
        with pytest.raises(AnnotationError, match="withdrew"):  # a late resend of the withdrawn vote
            voting.annotate(studio.db, studio.settings, "ann", Vote(first.assignment_id, "left"))
        shown = [first.prompt]
        item = undone.item
        while item is not None:
            shown.append(item.prompt)
            item = voting.annotate(studio.db, studio.settings, "ann", Vote(item.assignment_id, "right")).item
        assert sorted(shown) == ["prompt 0", "prompt 1", "prompt 2"] and len(set(shown)) == 3
        for_bob = next_item(studio, batch_id, "bob")  # overlap 1: the withdrawn item is free again
        assert for_bob is not None and for_bob.prompt == first.prompt
        vote(studio, for_bob.assignment_id, "bob", "left")
        with studio.db.session() as s:
            assert len(s.scalars(select(PairwiseVote)).all()) == 4  # the withdrawn vote stays on record
            (retraction,) = s.scalars(select(Retraction)).all()
            withdrawn = s.get(PairwiseVote, retraction.vote_id)
            assert (withdrawn.annotator, withdrawn.assignment_id) == ("ann", first.assignment_id)
        records = results.vote_records(studio, batch_id)
        assert len(records) == 3 and withdrawn.id not in {r["vote_id"] for r in records}
        assert service.get_batch(studio, batch_id).votes == 3
        assert len(results.studio_battles(studio, batch_id).a) == 3
    finally:
        studio.close()


def test_undo_of_a_skip_withdraws_it(studio):
    batch_id, _ = make_batch(studio, "undo-skip", 2)
    v = next_item(studio, batch_id, "ann")
    turn = voting.annotate(studio.db, studio.settings, "ann", Vote(v.assignment_id, "skip"))
    assert turn.progress.done == 1
    undone = voting.annotate(studio.db, studio.settings, "ann", Undo(batch_id))
    assert undone.note == "Your skip was withdrawn." and undone.progress.done == 0
    assert undone.item.assignment_id == turn.item.assignment_id
    assert next_item(studio, "undo-skip", "bob").prompt == v.prompt  # the skipped item is others' to judge


def test_skip_frees_the_slot_and_the_item_never_returns(studio):
    batch_id, items = make_batch(studio, "skip", 1, overlap=1)
    v = next_item(studio, batch_id, "ann")
    assert next_item(studio, batch_id, "bob") is None  # the one slot is held
    assert vote(studio, v.assignment_id, "ann", "skip").text() == "Skipped."
    assert next_item(studio, batch_id, "ann") is None  # never the same item twice
    vb = next_item(studio, batch_id, "bob")
    assert vb is not None
    vote(studio, vb.assignment_id, "bob", "left")
    assert voting.annotate(studio.db, studio.settings, "ann", Undo(batch_id)).item is None  # the skip is withdrawn, nothing else
    with pytest.raises(AnnotationError, match="withdrew"):
        vote(studio, v.assignment_id, "ann", "left")


def test_multiple_criteria_are_all_required(studio):
    batch_id, _ = make_batch(studio, "crit", 1, criteria=("overall", "visual_quality"))
    v = next_item(studio, batch_id, "ann")
    assert v.criteria == ["overall", "visual_quality"]
    with pytest.raises(AnnotationError, match="visual quality"):
        vote(studio, v.assignment_id, "ann", "left")
    r = vote(studio, v.assignment_id, "ann", "left", {"visual_quality": "tie"})
    assert r.criteria["visual_quality"] == "tie" and r.criteria["overall"] == r.winner


def test_expired_assignment_goes_to_someone_else(studio):
    batch_id, items = make_batch(studio, "expire", 1, overlap=1)
    v = next_item(studio, batch_id, "ann")
    with studio.db.session() as s:
        s.execute(update(Assignment).values(shown_at=utcnow() - timedelta(hours=2)))
    vb = next_item(studio, batch_id, "bob")
    assert vb is not None  # ann's slot expired
    vote(studio, vb.assignment_id, "bob", "left")
    late = vote(studio, v.assignment_id, "ann", "right")  # the documented in-flight margin
    assert not late.duplicate
    with studio.db.session() as s:
        assert s.get(ComparisonItem, items[0]).active == 1


def test_many_annotators_at_once_never_exceed_overlap(db_url, tmp_path):
    studio = _studio_for(db_url, tmp_path)
    try:
        batch_id, items = make_batch(studio, "crowd", 12, overlap=3)
        errors: list[BaseException] = []
        barrier = threading.Barrier(10)

        def annotate(name: str) -> None:
            try:
                barrier.wait()
                while (view := next_item(studio, batch_id, name)) is not None:
                    vote(studio, view.assignment_id, name, "left")
                    vote(studio, view.assignment_id, name, "left")  # a double click
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=annotate, args=(f"ann{k}",)) for k in range(10)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert errors == []
        with studio.db.session() as s:
            votes = s.execute(select(PairwiseVote.item_id, PairwiseVote.annotator)).all()
        per_item = Counter(item for item, _ in votes)
        assert per_item == {item: 3 for item in items}  # every item reached its overlap, none over
        assert len(set(votes)) == len(votes) == 36
    finally:
        studio.close()


def test_a_vote_answers_with_the_next_item_and_the_progress(studio):
    batch_id, _ = make_batch(studio, "click", 2)
    view = next_item(studio, batch_id, "ann")
    turn = voting.annotate(studio.db, studio.settings, "ann", Vote(view.assignment_id, "tie"))
    receipt, nxt, prog = turn.receipt, turn.item, turn.progress
    assert receipt.winner == "tie" and nxt is not None and nxt.assignment_id != view.assignment_id
    assert (prog.done, prog.available, prog.batch_votes) == (1, 2, 1)
    turn = voting.annotate(studio.db, studio.settings, "ann", Vote(nxt.assignment_id, "skip"))
    receipt, nxt, prog = turn.receipt, turn.item, turn.progress
    assert nxt is None and prog.done == 2 and prog.batch_votes == 1


def test_one_click_voting_by_many_annotators_at_once_stays_within_overlap(db_url, tmp_path):
    """The UI's vote + next item path under concurrency: every acknowledged vote stored once, no item
    over its overlap, nobody judging an item twice, every item judged by exactly ``overlap`` people."""
    studio = _studio_for(db_url, tmp_path)
    try:
        batch_id, items = make_batch(studio, "clicks", 10, overlap=3)
        errors: list[BaseException] = []
        acknowledged: list[tuple[str, str]] = []
        barrier = threading.Barrier(8)

        def annotate(name: str) -> None:
            try:
                view = next_item(studio, batch_id, name)
                barrier.wait()
                while view is not None:
                    choice = "skip" if view.prompt == "prompt 3" and name == "ann0" else "left"
                    turn = voting.annotate(studio.db, studio.settings, name, Vote(view.assignment_id, choice))
                    acknowledged.append((turn.receipt.item_id, name))
                    assert turn.progress.done >= 1
                    view = turn.item
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=annotate, args=(f"ann{k}",)) for k in range(8)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert errors == []
        with studio.db.session() as s:
            votes = s.execute(select(PairwiseVote.item_id, PairwiseVote.annotator, PairwiseVote.winner)).all()
            active = dict(s.execute(select(ComparisonItem.id, ComparisonItem.active)).all())
        assert sorted(acknowledged) == sorted((item, who) for item, who, _ in votes)
        judged = Counter(item for item, _, winner in votes if winner != "skip")
        assert judged == {item: 3 for item in items}
        assert active == {item: 3 for item in items}
        assert len({(item, who) for item, who, _ in votes}) == len(votes)
    finally:
        studio.close()


def test_one_click_asks_every_criterion_and_a_skip_frees_the_slot(studio):
    batch_id, items = make_batch(studio, "click-crit", 3, criteria=("overall", "visual_quality"))
    view = next_item(studio, batch_id, "ann")
    with pytest.raises(AnnotationError, match="visual quality"):
        voting.annotate(studio.db, studio.settings, "ann", Vote(view.assignment_id, "right"))
    with studio.db.session() as s:
        assert s.scalar(select(PairwiseVote.id)) is None  # the refused click stored nothing
    turn = voting.annotate(studio.db, studio.settings, "ann", Vote(view.assignment_id, "right", ["tie"]))
    receipt, nxt, prog = turn.receipt, turn.item, turn.progress
    assert receipt.criteria["visual_quality"] == "tie" and nxt is not None and nxt.criteria == view.criteria
    assert (prog.done, prog.available, prog.batch_votes, prog.batch_target) == (1, 3, 1, 3)
    turn = voting.annotate(studio.db, studio.settings, "ann", Vote(nxt.assignment_id, "skip"))
    receipt, nxt2, prog = turn.receipt, turn.item, turn.progress
    assert receipt.shown_choice == "skip" and nxt2 is not None and (prog.done, prog.batch_votes) == (2, 1)
    with studio.db.session() as s:
        skipped = s.get(Assignment, nxt.assignment_id)
        assert skipped.status == "skipped" and s.get(ComparisonItem, skipped.item_id).active == 0
    assert next_item(studio, batch_id, "bob") is not None  # the skipped item is free again
