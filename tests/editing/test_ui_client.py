"""The Edit chat tab's handlers through gradio_client against the real app."""
from __future__ import annotations

import threading

import pytest

from gradio_client import Client, handle_file

from studio import editing
from tests.editing.conftest import picture

# outputs of every session handler: session_id, head, chat, tree, turn, compare, slider, editor, status
SID, HEAD, CHAT, TREE, TURN, COMPARE, SLIDER, EDITOR, STATUS = range(9)


def send(client: Client, owner: str, sid: str, head: str, text: str, backend: str = "painter"):
    return client.predict(owner, sid, head, {"text": text, "files": []}, "reference images", None, False,
                          backend, None, None, None, None, None, 30, api_name="/edit_send")


def _start(client, data_dir, owner="ann"):
    path = data_dir / "pic.png"
    picture(96, 64).save(path)
    return client.predict(owner, handle_file(str(path)), api_name="/edit_start_upload")


@pytest.mark.slow
def test_three_turn_session_with_undo_branch_and_reopen(edit_app, data_dir):
    url, studio = edit_app
    client = Client(url, verbose=False)
    r = _start(client, data_dir)
    sid = r[SID]
    assert sid and "0 turn(s)" in r[STATUS]
    head = r[HEAD]
    for text in ("add a red box", "add a blue box", "add a green box"):
        r = send(client, "ann", sid, head, text)
        assert r[HEAD] and r[HEAD] != head
        head = r[HEAD]
    chat = r[CHAT]
    assert [m["role"] for m in chat] == ["assistant"] + ["user", "assistant"] * 3
    assert [m["content"][0]["text"] for m in chat if m["role"] == "user"] == [
        "add a red box", "add a blue box", "add a green box"]
    last = chat[-1]["content"]
    assert last[0]["type"] == "file" and "honored: green" in last[1]["text"] and "drift" in last[1]["text"]
    assert len(r[SLIDER]) == 2
    # an empty instruction changes nothing and says why
    bad = send(client, "ann", sid, head, "   ")
    assert "write an instruction" in bad[STATUS]
    assert len(editing.get_session(studio, "ann", sid).turns) == 3
    # a failing backend marks only that turn failed, with the reason
    failed = send(client, "ann", sid, head, "please fail")
    assert "failed" in failed[CHAT][-1]["content"][0]["text"]
    assert "cannot do that on purpose" in failed[CHAT][-1]["content"][0]["text"]
    # undo the failed turn, then undo turn 3: back at turn 2, turn 3 kept
    r = client.predict("ann", sid, failed[HEAD], api_name="/edit_undo")
    assert r[HEAD] == head
    r = client.predict("ann", sid, head, api_name="/edit_undo")
    view = editing.get_session(studio, "ann", sid)
    assert r[HEAD] == view.path()[-1].id and view.path()[-1].seq == 2 and len(view.turns) == 4
    # branch from turn 1 and add a turn there
    t1 = view.path()[0].id
    r = client.predict("ann", sid, t1, api_name="/edit_branch")
    r = send(client, "ann", sid, r[HEAD], "add a yellow box")
    assert "● #5 add a yellow box" in r[TREE] and "○ #3 add a green box" in r[TREE]
    # reopening (a reload) shows the same branch
    reopened = Client(url, verbose=False).predict("ann", sid, api_name="/edit_open")
    assert reopened[HEAD] == r[HEAD] and reopened[TREE] == r[TREE]
    # export the branch as a multi-turn sample
    ex = client.predict("ann", sid, r[HEAD], "multi-turn", "chat-set", api_name="/edit_export")
    assert "exported 1 multi-turn sample(s) to dataset 'chat-set'" in ex[STATUS]


def test_two_clients_on_one_session_lose_no_turn(edit_app, data_dir):
    url, studio = edit_app
    sid = _start(Client(url, verbose=False), data_dir)[SID]
    results: dict[str, list[str]] = {"a": [], "b": []}
    errors: list[BaseException] = []

    def tab(name: str) -> None:
        client, head = Client(url, verbose=False), ""
        try:
            for i in range(3):
                r = send(client, "ann", sid, head, f"{name} turn {i} red box")
                head = r[HEAD]
                results[name].append(head)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=tab, args=(n,)) for n in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    view = editing.get_session(studio, "ann", sid)
    assert sorted(t.seq for t in view.turns.values()) == [1, 2, 3, 4, 5, 6]
    assert all(t.done for t in view.turns.values())
    for name, heads in results.items():
        chain = [view.turns[h] for h in heads]
        assert [t.instruction for t in chain] == [f"{name} turn {i} red box" for i in range(3)]
        # each tab's turns build on the image that tab was looking at
        assert [t.parent_id for t in chain[1:]] == heads[:-1]
    assert view.head in results["a"] + results["b"]


def test_another_user_cannot_see_or_change_a_session(edit_app, data_dir):
    url, studio = edit_app
    client = Client(url, verbose=False)
    sid = _start(client, data_dir, owner="ann")[SID]
    r = client.predict("bob", sid, api_name="/edit_open")
    assert "no edit session" in r[STATUS]
    r = send(client, "bob", sid, "", "add a red box")
    assert "no edit session" in r[STATUS]
    assert client.predict("bob", "", api_name="/edit_list")["choices"] == []
    # a file that is not an image is refused with the reason, and nothing is created
    bad = data_dir / "notes.png"
    bad.write_text("just text")
    r = client.predict("bob", handle_file(str(bad)), api_name="/edit_start_upload")
    assert "not a supported image" in r[STATUS]
    assert editing.list_sessions(studio, "bob") == []
    assert editing.get_session(studio, "ann", sid).turns == {}
    # bob cannot delete it; ann can
    assert "no edit session" in client.predict("bob", sid, api_name="/edit_delete")[STATUS]
    r = client.predict("ann", sid, api_name="/edit_delete")
    assert "session deleted" in r[STATUS] and r[SID] == "" and r[-1]["choices"] == []
    assert editing.list_sessions(studio, "ann") == []


SIZED_BACKENDS = """
backends:
  painter:
    engine: tests.support.fake_backends:BoxPainter
    capabilities: [edit, inpaint, text-to-image]
  tiny:
    engine: tests.support.fake_backends:SolidColor
    label: A 32-px model
    capabilities: [edit, text-to-image]
    defaults: {width: 32, height: 24, steps: 5, guidance_scale: 1.5}
"""


def test_the_size_and_step_fields_follow_the_chosen_backends_own_defaults(data_dir):
    from tests.support.live_app import launched_app

    config = data_dir / "sized.yaml"
    config.write_text(SIZED_BACKENDS, encoding="utf-8")
    with launched_app(data_dir, backends_config=config) as (url, studio):
        client = Client(url, verbose=False)
        # start from a prompt: width, height, steps, guidance of the text-to-image backend picked
        assert client.predict("tiny", api_name="/edit_start_defaults") == (32, 24, 5, 1.5)
        assert client.predict("painter", api_name="/edit_start_defaults") == (512, 512, 3, None)
        # edit turns: seed, steps, guidance, image guidance, strength of the edit backend picked
        assert client.predict("tiny", api_name="/edit_backend_defaults") == (None, 5, 1.5, None, None)
        assert client.predict("painter", api_name="/edit_backend_defaults") == (7, 3, None, None, 0.8)
        # the pre-filled size is what the start image is made at, however small
        w, h, steps, guidance = client.predict("tiny", api_name="/edit_start_defaults")
        r = client.predict("ann", "a red square", "tiny", 0, w, h, steps, guidance, api_name="/edit_start_prompt")
        view = editing.get_session(studio, "ann", r[SID])
        assert studio.edit_images.open_stored(view.source_image).size == (32, 24)
        r = client.predict("ann", "a red square", "tiny", 0, 8, 8, None, None, api_name="/edit_start_prompt")
        assert studio.edit_images.open_stored(editing.get_session(studio, "ann", r[SID]).source_image).size == (8, 8)
