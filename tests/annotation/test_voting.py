"""Assignment and voting in the engine: blind views, idempotent votes, undo, overlap under concurrency."""
from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from studio.annotation import AnnotationError, views, voting
from studio.db.base import utcnow
from studio.annotation.models import Assignment, ComparisonItem, PairwiseVote
from tests.annotation.helpers import make_batch


def _studio_for(url, tmp_path, **settings):
    from studio.core import Studio
    from studio.settings import load_settings

    return Studio(load_settings(data_dir=tmp_path / "d", database_url=url, **settings))


def test_views_are_blind_and_sides_map_back_to_models(studio):
    batch_id, items = make_batch(studio, "blind", 6)
    seen_left_a = set()
    for _ in range(6):
        view = voting.next_item(studio, batch_id, "ann")
        assert "model-" not in repr(view)  # nothing in what the annotator gets names a model
        receipt = voting.vote(studio, view.assignment_id, "ann", "left")
        with studio.db.session() as s:
            a = s.get(Assignment, view.assignment_id)
            item = s.get(ComparisonItem, a.item_id)
        expected_left = item.model_a if a.a_on_left else item.model_b
        assert receipt.left_model == expected_left
        assert receipt.winner == ("model_a" if a.a_on_left else "model_b")
        assert view.left_image == (item.output_a if a.a_on_left else item.output_b)
        seen_left_a.add(a.a_on_left)
        assert "A was" in receipt.text()
    assert voting.next_item(studio, batch_id, "ann") is None


def test_view_image_drops_metadata(studio):
    from PIL import Image

    sha = studio.samples.store_image(Image.new("RGB", (4, 4)), text={"backend": "model-secret"})
    assert "model-secret" in studio.images.open(sha).info.get("backend", "")
    assert studio.images.open(sha).info and views.view_image(studio, sha).info == {}
    served = views.view_file(studio, sha)
    assert b"model-secret" not in open(served, "rb").read()
    assert sha not in served  # the view name does not reveal the stored id (served elsewhere with metadata)
    assert views.view_file(studio, sha) == served


def test_resend_is_idempotent_and_a_changed_resend_keeps_the_first(studio):
    batch_id, _ = make_batch(studio, "idem", 2)
    view = voting.next_item(studio, batch_id, "ann")
    first = voting.vote(studio, view.assignment_id, "ann", "right")
    again = voting.vote(studio, view.assignment_id, "ann", "right")
    other = voting.vote(studio, view.assignment_id, "ann", "left")
    assert not first.duplicate and again.duplicate and other.duplicate
    assert other.shown_choice == "right"
    with studio.db.session() as s:
        assert len(s.scalars(select(PairwiseVote)).all()) == 1


def test_concurrent_resends_store_one_vote(studio):
    batch_id, _ = make_batch(studio, "race", 1)
    view = voting.next_item(studio, batch_id, "ann")
    receipts, barrier = [], threading.Barrier(6)

    def send():
        barrier.wait()
        receipts.append(voting.vote(studio, view.assignment_id, "ann", "tie"))

    threads = [threading.Thread(target=send) for _ in range(6)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sum(not r.duplicate for r in receipts) == 1 and len(receipts) == 6
    with studio.db.session() as s:
        assert len(s.scalars(select(PairwiseVote)).all()) == 1


def test_someone_elses_assignment_and_bad_choices_are_refused(studio):
    batch_id, _ = make_batch(studio, "own", 2)
    view = voting.next_item(studio, batch_id, "ann")
    with pytest.raises(AnnotationError, match="not assigned to you"):
        voting.vote(studio, view.assignment_id, "mallory", "left")
    with pytest.raises(AnnotationError, match="choice must be"):
        voting.vote(studio, view.assignment_id, "ann", "A")
    with pytest.raises(AnnotationError, match="sign in"):
        voting.next_item(studio, batch_id, " ")


def test_reload_resumes_the_same_item_then_undo_and_progress(studio):
    batch_id, _ = make_batch(studio, "resume", 3)
    v1 = voting.next_item(studio, batch_id, "ann")
    assert voting.next_item(studio, batch_id, "ann").assignment_id == v1.assignment_id  # reload
    voting.vote(studio, v1.assignment_id, "ann", "left")
    v2 = voting.next_item(studio, batch_id, "ann")
    assert v2.assignment_id != v1.assignment_id
    p = voting.progress(studio, batch_id, "ann")
    assert (p.done, p.available, p.batch_votes, p.batch_target) == (1, 3, 1, 3)
    back = voting.undo_last(studio, batch_id, "ann")
    assert back.assignment_id == v1.assignment_id and back.left_image == v1.left_image
    assert voting.progress(studio, batch_id, "ann").done == 0
    assert voting.next_item(studio, batch_id, "ann").assignment_id == v1.assignment_id
    voting.vote(studio, v1.assignment_id, "ann", "tie_bad")
    assert voting.next_item(studio, batch_id, "ann").assignment_id == v2.assignment_id
    with pytest.raises(AnnotationError, match="nothing to undo"):
        voting.undo_last(studio, batch_id, "bob")


def test_skip_frees_the_slot_and_the_item_never_returns(studio):
    batch_id, items = make_batch(studio, "skip", 1, overlap=1)
    v = voting.next_item(studio, batch_id, "ann")
    assert voting.next_item(studio, batch_id, "bob") is None  # the one slot is held
    assert voting.vote(studio, v.assignment_id, "ann", "skip").text() == "Skipped."
    assert voting.next_item(studio, batch_id, "ann") is None  # never the same item twice
    vb = voting.next_item(studio, batch_id, "bob")
    assert vb is not None
    voting.vote(studio, vb.assignment_id, "bob", "left")
    assert voting.undo_last(studio, batch_id, "ann") is None  # slot taken meanwhile: undo just withdraws
    with pytest.raises(AnnotationError, match="already has all the votes"):
        voting.vote(studio, v.assignment_id, "ann", "left")


def test_multiple_criteria_are_all_required(studio):
    batch_id, _ = make_batch(studio, "crit", 1, criteria=("overall", "visual_quality"))
    v = voting.next_item(studio, batch_id, "ann")
    assert v.criteria == ["overall", "visual_quality"]
    with pytest.raises(AnnotationError, match="visual quality"):
        voting.vote(studio, v.assignment_id, "ann", "left")
    r = voting.vote(studio, v.assignment_id, "ann", "left", criteria_choices={"visual_quality": "tie"})
    assert r.criteria["visual_quality"] == "tie" and r.criteria["overall"] == r.winner


def test_expired_assignment_goes_to_someone_else(studio):
    batch_id, items = make_batch(studio, "expire", 1, overlap=1)
    v = voting.next_item(studio, batch_id, "ann")
    with studio.db.session() as s:
        s.execute(update(Assignment).values(shown_at=utcnow() - timedelta(hours=2)))
    vb = voting.next_item(studio, batch_id, "bob")
    assert vb is not None  # ann's slot expired
    voting.vote(studio, vb.assignment_id, "bob", "left")
    late = voting.vote(studio, v.assignment_id, "ann", "right")  # the documented in-flight margin
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
                while (view := voting.next_item(studio, batch_id, name)) is not None:
                    voting.vote(studio, view.assignment_id, name, "left")
                    voting.vote(studio, view.assignment_id, name, "left")  # a double click
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


def test_vote_and_next_is_one_click(studio):
    batch_id, _ = make_batch(studio, "click", 2)
    view = voting.next_item(studio, batch_id, "ann")
    receipt, nxt, prog = voting.vote_and_next(studio, view.assignment_id, "ann", "tie")
    assert receipt.winner == "tie" and nxt is not None and nxt.assignment_id != view.assignment_id
    assert (prog.done, prog.available, prog.batch_votes) == (1, 2, 1)
    receipt, nxt, prog = voting.vote_and_next(studio, nxt.assignment_id, "ann", "skip")
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
                view = voting.next_item(studio, batch_id, name)
                barrier.wait()
                while view is not None:
                    choice = "skip" if view.prompt == "prompt 3" and name == "ann0" else "left"
                    receipt, view, prog = voting.vote_and_next(studio, view.assignment_id, name, choice)
                    acknowledged.append((receipt.item_id, name))
                    assert prog.done >= 1
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
    view = voting.next_item(studio, batch_id, "ann")
    with pytest.raises(AnnotationError, match="visual quality"):
        voting.vote_and_next(studio, view.assignment_id, "ann", "right")
    with studio.db.session() as s:
        assert s.scalar(select(PairwiseVote.id)) is None  # the refused click stored nothing
    receipt, nxt, prog = voting.vote_and_next(studio, view.assignment_id, "ann", "right", criteria_choices=["tie"])
    assert receipt.criteria["visual_quality"] == "tie" and nxt is not None and nxt.criteria == view.criteria
    assert (prog.done, prog.available, prog.batch_votes, prog.batch_target) == (1, 3, 1, 3)
    receipt, nxt2, prog = voting.vote_and_next(studio, nxt.assignment_id, "ann", "skip")
    assert receipt.shown_choice == "skip" and nxt2 is not None and (prog.done, prog.batch_votes) == (2, 1)
    with studio.db.session() as s:
        skipped = s.get(Assignment, nxt.assignment_id)
        assert skipped.status == "skipped" and s.get(ComparisonItem, skipped.item_id).active == 0
    assert voting.next_item(studio, batch_id, "bob") is not None  # the skipped item is free again
