"""The session tree as a user drives it: turns, undo, branch, pick a branch, failures, ownership."""
from __future__ import annotations

import pytest
from PIL import Image

from backends.base import BackendError
from studio import editing
from studio.editing import EditingError, SessionNotFound
from studio.images import ImageLoadError
from tests.editing.conftest import picture, png_bytes


def _start(studio, owner="ann"):
    view, notices = editing.start_from_upload(studio, owner, png_bytes(picture()), name="pic.png")
    assert notices == []
    return view


def _turn(studio, view_id, text, shown, owner="ann", **kw):
    return editing.submit_turn(studio, owner, view_id, text, "painter", shown=shown, **kw)


def test_three_turns_make_a_chain_with_outputs_and_drift(edit_studio):
    v = _start(edit_studio)
    o1 = _turn(edit_studio, v.id, "add a red box", None)
    o2 = _turn(edit_studio, v.id, "add a blue box", o1.turn.id)
    o3 = _turn(edit_studio, v.id, "add a green box", o2.turn.id)
    path = o3.session.path()
    assert [t.seq for t in path] == [1, 2, 3]
    assert [t.parent_id for t in path] == [None, o1.turn.id, o2.turn.id]
    assert o3.session.head == o3.turn.id
    assert path[1].input_image == path[0].output_image  # each turn edits the previous output
    assert len({v.source_image, *(t.output_image for t in path)}) == 4
    assert o1.turn.honored == ["red"] and o1.turn.ignored == []
    for t in path:
        assert 0.0 < t.drift["outside_fraction"] < 1.0
        assert t.drift["psnr"] is None  # the painter touches nothing outside its boxes
    assert edit_studio.images.open(o3.turn.output_image).size == (96, 64)


def test_undo_keeps_the_undone_turn_and_branching_keeps_both_branches(edit_studio):
    v = _start(edit_studio)
    t1 = _turn(edit_studio, v.id, "red box", None).turn
    t2 = _turn(edit_studio, v.id, "blue box", t1.id).turn
    t3 = _turn(edit_studio, v.id, "green box", t2.id).turn
    after_undo = editing.undo(edit_studio, "ann", v.id, t3.id)
    assert after_undo.head == t2.id and t3.id in after_undo.turns
    # edit from turn 1: a second branch
    editing.set_head(edit_studio, "ann", v.id, t1.id)
    t4 = _turn(edit_studio, v.id, "yellow box", t1.id).turn
    view = editing.get_session(edit_studio, "ann", v.id)
    assert t4.parent_id == t1.id and t4.input_image == t1.output_image
    assert [t.id for t in view.leaves()] == [t3.id, t4.id]
    assert [t.id for t in view.children(t1.id)] == [t2.id, t4.id]
    tree = "\n".join(view.tree_lines())
    assert "#3 green box" in tree and "#4 yellow box [painter]  ◀ head" in tree
    # pick the first branch to continue
    view = editing.set_head(edit_studio, "ann", v.id, t3.id)
    assert [t.seq for t in view.path()] == [1, 2, 3]
    with pytest.raises(EditingError, match="nothing to undo"):
        editing.undo(edit_studio, "ann", v.id, None)


def test_session_survives_a_restart(edit_studio_any_db, data_dir):
    from studio.core import Studio

    s1 = edit_studio_any_db
    v = _start(s1)
    t1 = _turn(s1, v.id, "red box", None).turn
    _turn(s1, v.id, "blue box", t1.id)
    editing.undo(s1, "ann", v.id, editing.get_session(s1, "ann", v.id).head)
    before = editing.get_session(s1, "ann", v.id)
    s1.close()
    s2 = Studio(s1.settings)
    try:
        after = editing.get_session(s2, "ann", v.id)
        assert after == before
        assert [s.id for s in editing.list_sessions(s2, "ann")] == [v.id]
        assert s2.images.open(after.turns[t1.id].output_image).size == (96, 64)
    finally:
        s2.close()


def test_failed_turn_keeps_the_session_usable_and_can_be_retried(edit_studio):
    v = _start(edit_studio)
    t1 = _turn(edit_studio, v.id, "red box", None).turn
    bad = _turn(edit_studio, v.id, "please fail", t1.id).turn
    assert bad.status == "failed" and "cannot do that on purpose" in bad.error
    assert bad.output_image is None
    # the next instruction applies to the last good image, not to the failed turn
    good = _turn(edit_studio, v.id, "blue box", bad.id).turn
    assert good.status == "done" and good.parent_id == t1.id
    flaky = _turn(edit_studio, v.id, "flaky yellow box", good.id).turn
    assert flaky.status == "failed" and "temporary hiccup" in flaky.error
    retried = editing.retry_turn(edit_studio, "ann", v.id, flaky.id).turn
    assert retried.status == "done" and retried.attempts == 2 and retried.id == flaky.id
    with pytest.raises(EditingError, match="only failed turns"):
        editing.retry_turn(edit_studio, "ann", v.id, good.id)


def test_a_hanging_backend_times_out_as_a_failed_turn(edit_studio):
    v = _start(edit_studio)
    out = _turn(edit_studio, v.id, "hang forever", None, timeout_s=0.3)
    assert out.turn.status == "failed" and "timed out after 0.3 s" in out.turn.error
    assert _turn(edit_studio, v.id, "red box", out.turn.id).turn.status == "done"


def test_bad_requests_get_clear_errors_and_change_nothing(edit_studio):
    v = _start(edit_studio)
    with pytest.raises(EditingError, match="write an instruction"):
        _turn(edit_studio, v.id, "   ", None)
    with pytest.raises(EditingError, match="cannot edit images"):
        editing.submit_turn(edit_studio, "ann", v.id, "red", "chatty", shown=None)
    with pytest.raises(BackendError, match="is not configured"):
        editing.submit_turn(edit_studio, "ann", v.id, "red", "nope", shown=None)
    with pytest.raises(EditingError, match="steps must be a whole number"):
        _turn(edit_studio, v.id, "red", None, params={"steps": "2.5"})
    with pytest.raises(ImageLoadError, match="not a supported image"):
        editing.start_from_upload(edit_studio, "ann", b"hello, not an image", name="x.txt")
    with pytest.raises(EditingError, match="enter your name"):
        editing.list_sessions(edit_studio, " ")
    assert editing.get_session(edit_studio, "ann", v.id).turns == {}


def test_huge_uploads_are_resized_with_a_notice(data_dir):
    from studio.core import Studio
    from studio.settings import load_settings
    from tests.editing.conftest import write_backends

    s = Studio(load_settings(data_dir=data_dir, backends_config=write_backends(data_dir), max_working_side=64))
    try:
        view, notices = editing.start_from_upload(s, "ann", png_bytes(Image.new("RGB", (400, 100))), "wide.png")
        assert notices == ["image was 400×100; resized to 64×16 to stay within 64px"]
        assert s.images.open(view.source_image).size == (64, 16)
    finally:
        s.close()


def test_sessions_belong_to_their_owner(edit_studio):
    v = _start(edit_studio, owner="ann")
    t1 = _turn(edit_studio, v.id, "red box", None).turn
    assert editing.list_sessions(edit_studio, "bob") == []
    for call in (
        lambda: editing.get_session(edit_studio, "bob", v.id),
        lambda: editing.submit_turn(edit_studio, "bob", v.id, "blue", "painter", shown=t1.id),
        lambda: editing.undo(edit_studio, "bob", v.id, t1.id),
        lambda: editing.delete_session(edit_studio, "bob", v.id),
        lambda: editing.export_branch(edit_studio, "bob", v.id),
    ):
        with pytest.raises(SessionNotFound):
            call()
    assert len(editing.get_session(edit_studio, "ann", v.id).turns) == 1
    editing.delete_session(edit_studio, "ann", v.id)
    assert editing.list_sessions(edit_studio, "ann") == []


def test_start_from_prompt_and_from_a_sample(edit_studio):
    view, _ = editing.start_from_prompt(edit_studio, "ann", "a blue ball", "painter", seed=3, width=80, height=48)
    assert view.origin == "generated" and edit_studio.images.open(view.source_image).size == (80, 48)
    t = _turn(edit_studio, view.id, "red box", None).turn
    [sid] = editing.export_branch(edit_studio, "ann", view.id, form="triplets")
    assert (editing.recent_samples(edit_studio)[0][1]) == sid
    again, _ = editing.start_from_sample(edit_studio, "bob", sid)
    assert again.source_image == t.output_image and again.owner == "bob"
    with pytest.raises(EditingError, match="cannot make images from text"):
        editing.start_from_prompt(edit_studio, "ann", "x", "painter2")


def test_concurrent_writers_on_one_session_keep_every_turn(edit_studio_any_db):
    import threading

    studio = edit_studio_any_db
    v = _start(studio)
    heads: dict[str, list[str]] = {"a": [], "b": [], "c": []}
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        shown = None
        try:
            for i in range(3):
                shown = _turn(studio, v.id, f"{name}{i} red box", shown).turn.id
                heads[name].append(shown)
                if i == 1:  # moving the head while others write must not lose anything either
                    editing.set_head(studio, "ann", v.id, shown)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in heads]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    view = editing.get_session(studio, "ann", v.id)
    assert sorted(t.seq for t in view.turns.values()) == list(range(1, 10))
    for name, ids in heads.items():
        assert [view.turns[i].parent_id for i in ids] == [None] + ids[:-1]
    assert view.version >= 9 * 2


def test_views_a_turn_returns_match_the_database_when_another_process_writes(edit_studio_any_db):
    # two server processes on one database (two Studio objects: each keeps its own snapshots);
    # what a turn returns must be what a fresh load of the session says, whoever wrote last
    from studio.core import Studio

    a = edit_studio_any_db
    b = Studio(a.settings)
    try:
        v = _start(a)
        t1 = _turn(a, v.id, "red box", None)
        assert t1.session == editing.get_session(b, "ann", v.id)
        t2 = _turn(a, v.id, "blue box", t1.turn.id)  # extends a's snapshot
        assert t2.session == editing.get_session(b, "ann", v.id)
        editing.undo(b, "ann", v.id, t2.turn.id)  # the other process moves the head back
        t3 = _turn(a, v.id, "green box", t2.turn.id)  # a's snapshot is now stale
        assert any("changed in another tab" in n for n in t3.notices)
        fresh = editing.get_session(b, "ann", v.id)
        assert t3.session == fresh and fresh.head == t3.turn.id
        assert t3.turn.parent_id == t2.turn.id and sorted(t.seq for t in fresh.turns.values()) == [1, 2, 3]
        t4 = _turn(b, v.id, "red box", t3.turn.id)
        assert t4.session == editing.get_session(a, "ann", v.id)
    finally:
        b.close()
