"""The vote path for event-loop callers: one writer thread storing the clicks of many annotators a
group per transaction (SQLite), the worker-thread path elsewhere; the same results as the plain path."""
from __future__ import annotations

import asyncio
import threading
from collections import Counter

import pytest
from sqlalchemy import select

from studio.annotation import AnnotationError, click, grouped, voting
from studio.annotation.models import Assignment, ComparisonItem, PairwiseVote
from tests.annotation.helpers import make_batch


def _arun(coro):
    """Run a coroutine on a loop of its own in a thread of its own (the browser tests' driver keeps
    an event loop running in the main thread)."""
    out: dict = {}

    def main() -> None:
        try:
            out["value"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            out["error"] = exc

    t = threading.Thread(target=main)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


def _studio_for(url, tmp_path):
    from studio.core import Studio
    from studio.settings import load_settings

    return Studio(load_settings(data_dir=tmp_path / "d", database_url=url))


def test_many_annotators_on_one_loop_store_every_vote_once_within_overlap(db_url, tmp_path, monkeypatch):
    studio = _studio_for(db_url, tmp_path)
    sizes: list[int] = []
    write = grouped.VoteWriter._write

    def counting(self, group):
        sizes.append(len(group))
        return write(self, group)

    monkeypatch.setattr(grouped.VoteWriter, "_write", counting)
    try:
        batch_id, items = make_batch(studio, "grouped", 12, overlap=3)
        names = [f"ann{k}" for k in range(10)]
        acknowledged: list[tuple[str, str]] = []

        async def annotate(name: str) -> None:
            view = voting.next_item(studio, batch_id, name)
            while view is not None:
                receipt, view, prog = await grouped.vote_and_next(studio, view.assignment_id, name, "left")
                acknowledged.append((receipt.item_id, name))
                assert receipt.left_model and prog.done >= 1

        async def main() -> None:
            await asyncio.gather(*(annotate(n) for n in names))

        _arun(main())
        with studio.db.session() as s:
            votes = s.execute(select(PairwiseVote.item_id, PairwiseVote.annotator)).all()
            active = dict(s.execute(select(ComparisonItem.id, ComparisonItem.active)).all())
            still_open = s.scalar(select(Assignment.id).where(Assignment.status == "open"))
        assert sorted(acknowledged) == sorted(votes) and len(set(votes)) == len(votes)
        assert Counter(item for item, _ in votes) == {item: 3 for item in items}
        assert active == {item: 3 for item in items} and still_open is None
        if studio.db.dialect == "sqlite":
            assert max(sizes) > 1  # clicks that arrive together share a transaction
        else:
            assert sizes == []  # PostgreSQL: worker threads, no writer
    finally:
        studio.close()


def test_the_loop_and_the_plain_path_give_the_same_answers(studio):
    batch_id, _ = make_batch(studio, "same", 3, criteria=("overall", "visual_quality"))
    view = voting.next_item(studio, batch_id, "ann")
    with pytest.raises(AnnotationError, match="visual quality"):
        _arun(grouped.vote_and_next(studio, view.assignment_id, "ann", "right"))
    receipt, nxt, prog = _arun(grouped.vote_and_next(studio, view.assignment_id, "ann", "right",
                                                           criteria_choices=["tie"]))
    assert receipt.criteria["visual_quality"] == "tie" and nxt is not None
    assert (prog.done, prog.available, prog.batch_votes, prog.batch_target) == (1, 3, 1, 3)
    # a resend takes the general path (a worker thread) and answers like the plain path does
    again, _, _ = _arun(grouped.vote_and_next(studio, view.assignment_id, "ann", "right",
                                                    criteria_choices=["tie"]))
    assert again.duplicate and again.winner == receipt.winner
    receipt, nxt2, prog = _arun(grouped.vote_and_next(studio, nxt.assignment_id, "ann", "skip"))
    assert receipt.shown_choice == "skip" and nxt2 is not None and (prog.done, prog.batch_votes) == (2, 1)
    with pytest.raises(AnnotationError, match="not assigned to you"):
        _arun(grouped.vote_and_next(studio, nxt2.assignment_id, "bob", "left"))
    with pytest.raises(AnnotationError, match="choice must be one of"):
        _arun(grouped.vote_and_next(studio, nxt2.assignment_id, "ann", "maybe"))
    receipt, last, prog = _arun(grouped.vote_and_next(studio, nxt2.assignment_id, "ann", "left",
                                                            criteria_choices=["left"]))
    assert last is None and prog.done == 3  # nothing left: looked up the general way after the commit


def test_one_bad_click_in_a_group_fails_alone(studio, monkeypatch):
    """A click that fails its own checks is refused alone; a click that breaks the transaction rolls
    the group back, and every other click of the group is stored when retried on its own."""
    batch_id, _ = make_batch(studio, "bad", 8)
    names = [f"ann{k}" for k in range(6)]
    views = {n: voting.next_item(studio, batch_id, n) for n in names}
    broken = views["ann2"].assignment_id
    real = click.click_in
    calls = Counter()

    def flaky(ex, assignment_id, *args, **kwargs):
        calls[assignment_id] += 1
        if assignment_id == broken:
            raise RuntimeError("disk on fire")
        return real(ex, assignment_id, *args, **kwargs)

    monkeypatch.setattr(click, "click_in", flaky)
    started = threading.Event()
    gate = threading.Event()
    write = grouped.VoteWriter._write

    def held(self, group):  # hold the first group until every click has queued behind it
        started.set()
        gate.wait(10)
        return write(self, group)

    monkeypatch.setattr(grouped.VoteWriter, "_write", held)

    async def main():
        first = asyncio.ensure_future(grouped.vote_and_next(studio, views["ann0"].assignment_id, "ann0", "left"))
        while not started.is_set():
            await asyncio.sleep(0.01)
        rest = [asyncio.ensure_future(grouped.vote_and_next(
            studio, views[n].assignment_id, "ann1" if n == "ann5" else n, "left")) for n in names[1:]]
        await asyncio.sleep(0.05)
        gate.set()
        return await asyncio.gather(first, *rest, return_exceptions=True)

    results = _arun(main())
    assert not isinstance(results[0], BaseException)
    assert isinstance(results[2], RuntimeError)  # the broken click's own error, after its retry alone
    assert isinstance(results[5], AnnotationError)  # ann1 voting on ann5's item: refused alone
    assert all(not isinstance(r, BaseException) for k, r in enumerate(results) if k not in (2, 5))
    assert calls[broken] == 2  # once in the group (rolled back), once on its own
    with studio.db.session() as s:
        voters = {a for (a,) in s.execute(select(PairwiseVote.annotator))}
    assert voters == {"ann0", "ann1", "ann3", "ann4"}


def test_the_writer_stops_with_the_database(tmp_path):
    studio = _studio_for(f"sqlite:///{tmp_path / 'w.db'}", tmp_path)
    batch_id, _ = make_batch(studio, "stop", 2)
    view = voting.next_item(studio, batch_id, "ann")
    _arun(grouped.vote_and_next(studio, view.assignment_id, "ann", "left"))
    w = grouped.writer(studio.db)
    assert w._thread.is_alive()
    studio.close()
    assert not w._thread.is_alive() and w._ex is None
    assert grouped._writers.get(id(studio.db)) is not w


def test_candidates_come_from_the_index_in_order(studio):
    """The candidate query walks (batch, active, position) and stops early: no sort of the batch."""
    batch_id, _ = make_batch(studio, "plan", 3)
    compiled = click._CANDIDATES.compile(dialect=studio.db.engine.dialect)
    params = compiled.construct_params({"batch_id": batch_id, "annotator": "ann", "overlap": 2})
    with studio.db.engine.connect() as conn:
        plan = " | ".join(row[-1] for row in conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + compiled.string, tuple(params[n] for n in compiled.positiontup)))
    assert "ix_annotation_items_batch_active" in plan and "TEMP B-TREE" not in plan


def test_view_files_are_remembered_and_looked_at_again(studio, monkeypatch):
    from studio.annotation import views

    batch_id, _ = make_batch(studio, "views", 1)
    sha = voting.next_item(studio, batch_id, "ann").left_image
    views._made.pop(sha, None)
    path = views.view_file(studio, sha)
    assert views.made(sha)
    views.view_path(sha).unlink()  # a temp-folder cleaner was here
    monkeypatch.setattr(views, "RECHECK_S", 0.0)
    assert not views.made(sha)
    assert views.view_file(studio, sha) == path and views.made(sha)


def test_the_view_folder_is_the_first_static_folder(studio):
    from gradio.data_classes import _StaticFiles

    from studio.annotation import views
    from studio.ui.app import build_app

    build_app(studio)
    assert _StaticFiles.all_paths[0] == views.VIEW_DIR.resolve()


def test_the_wal_is_checkpointed_from_another_thread(tmp_path, monkeypatch):
    studio = _studio_for(f"sqlite:///{tmp_path / 'c.db'}", tmp_path)
    monkeypatch.setattr(grouped, "CHECKPOINT_EVERY", 2)
    seen: list[str] = []
    real = grouped.VoteWriter._checkpoint

    def spy(self):
        seen.append(threading.current_thread().name)
        real(self)

    monkeypatch.setattr(grouped.VoteWriter, "_checkpoint", spy)
    try:
        batch_id, _ = make_batch(studio, "wal", 4)
        view = voting.next_item(studio, batch_id, "ann")
        for _ in range(3):
            _, view, _ = _arun(grouped.vote_and_next(studio, view.assignment_id, "ann", "left"))
        for _ in range(100):
            if seen and not grouped.writer(studio.db)._checkpointing.is_set():
                break
            threading.Event().wait(0.05)
        assert seen and all(name == "vote-wal-checkpoint" for name in seen)
        with studio.db.engine.connect() as conn:  # the writer's connection leaves checkpoints to others
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
        assert grouped.writer(studio.db)._ex.connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    finally:
        studio.close()
