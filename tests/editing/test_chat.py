"""One chat message through studio.editing.chat, without a server: what the message box decides."""
from __future__ import annotations

import pytest

from studio import editing
from studio.editing.chat import (
    ATTACH_MASK,
    ChatMessage,
    generate_source,
    message_files,
    own_defaults,
    send_message,
)
from tests.editing.conftest import picture


def _file(tmp_path, name: str, w: int = 96, h: int = 64) -> str:
    path = tmp_path / name
    picture(w, h).save(path)
    return str(path)


def test_an_attachment_without_a_session_starts_one_and_the_instruction_runs_on_it(edit_studio, tmp_path):
    steps = list(send_message(edit_studio, "ann", "", None,
                              ChatMessage("add a red box", [_file(tmp_path, "first.png")]), "painter"))
    assert [(s.started, s.pending, s.turn is not None) for s in steps] == [
        (True, None, False), (False, "add a red box", False), (False, None, True)]
    done = steps[-1]
    assert done.turn.status == "done" and done.shown == done.turn.id == done.session.head
    assert done.session.origin == "upload" and done.session.origin_ref == "first.png"
    [summary] = editing.list_sessions(edit_studio, "ann")
    assert summary.id == done.session.id and summary.turns == 1


def test_an_attachment_alone_only_starts_the_session(edit_studio, tmp_path):
    steps = list(send_message(edit_studio, "ann", None, None, ChatMessage("", [_file(tmp_path, "a.png")]), "painter"))
    assert len(steps) == 1 and steps[0].started and steps[0].session.turns == {}


def test_nothing_to_start_from_or_no_instruction_is_refused_with_what_to_do(edit_studio, tmp_path):
    with pytest.raises(editing.EditingError, match="start a session first"):
        list(send_message(edit_studio, "ann", "", None, ChatMessage("add a red box"), "painter"))
    view, _ = editing.start_from_upload(edit_studio, "ann", _file(tmp_path, "a.png"))
    with pytest.raises(editing.EditingError, match="write an instruction"):
        list(send_message(edit_studio, "ann", view.id, None, ChatMessage("   ".strip()), "painter"))
    assert editing.get_session(edit_studio, "ann", view.id).turns == {}


def test_a_mask_attachment_is_the_mask_and_the_rest_are_references(edit_studio, tmp_path):
    from PIL import Image

    view, _ = editing.start_from_upload(edit_studio, "ann", _file(tmp_path, "a.png"))
    mask = tmp_path / "mask.png"
    m = Image.new("L", (96, 64), 0)
    m.paste(255, (10, 10, 30, 20))
    m.save(mask)
    message = ChatMessage("add a red box", [str(mask), _file(tmp_path, "ref.png")], attach_as=ATTACH_MASK)
    *_, done = send_message(edit_studio, "ann", view.id, None, message, "painter")
    assert done.turn.mask_image and len(done.turn.reference_images) == 1
    # the test painter paints inside the mask's box
    out = edit_studio.edit_images.open_stored(done.turn.output_image)
    assert out.getpixel((20, 15)) != picture(96, 64).getpixel((20, 15))
    # a mask for a backend that does not inpaint is kept, with a notice
    *_, other = send_message(edit_studio, "ann", view.id, done.turn.id,
                             ChatMessage("add a blue box", [str(mask)], attach_as=ATTACH_MASK), "painter2")
    assert any("not an inpainting backend" in n for n in other.notices)


def test_a_file_that_is_not_an_image_is_refused_before_any_turn(edit_studio, tmp_path):
    from studio.images import ImageLoadError

    view, _ = editing.start_from_upload(edit_studio, "ann", _file(tmp_path, "a.png"))
    bad = tmp_path / "notes.png"
    bad.write_text("just text")
    with pytest.raises(ImageLoadError):
        list(send_message(edit_studio, "ann", view.id, None, ChatMessage("add a red box", [str(bad)]), "painter"))
    assert editing.get_session(edit_studio, "ann", view.id).turns == {}


def test_the_message_box_value_becomes_a_message():
    m = message_files({"text": "  add a box ", "files": ["/a.png", {"path": "/b.png"}, None]})
    assert m.text == "add a box" and m.files == ("/a.png", "/b.png")
    assert message_files(None) == ChatMessage()


def test_a_backends_own_defaults_come_from_its_entry_then_its_class(edit_studio):
    from backends.registry import BackendEntry

    edit_studio.backends.add(BackendEntry(name="tiny", engine="tests.support.fake_backends:BoxPainter", label="tiny",
                                          defaults={"width": 32, "height": 24, "steps": 5}))
    keys = ("width", "height", "steps", "seed", "strength")
    assert own_defaults(edit_studio, "painter", keys) == {"width": None, "height": None, "steps": 3, "seed": 7,
                                                          "strength": 0.8}
    assert own_defaults(edit_studio, "tiny", keys) == {"width": 32, "height": 24, "steps": 5, "seed": 7,
                                                       "strength": 0.8}
    assert own_defaults(edit_studio, "gone", keys) == dict.fromkeys(keys)


def test_a_source_image_is_generated_at_the_size_asked_or_the_backends_own(edit_studio):
    from backends.registry import BackendEntry

    edit_studio.backends.add(BackendEntry(name="tiny", engine="tests.support.fake_backends:SolidColor", label="tiny",
                                          defaults={"width": 12, "height": 8}))
    view, _ = generate_source(edit_studio, "ann", "a red square", "tiny")
    assert edit_studio.edit_images.open_stored(view.source_image).size == (12, 8)
    view, _ = generate_source(edit_studio, "ann", "a red square", "tiny", width=9, height=7)
    assert edit_studio.edit_images.open_stored(view.source_image).size == (9, 7)
    for bad in (0, 2.5, "wide"):
        with pytest.raises(editing.EditingError, match="width must be a whole number of pixels"):
            generate_source(edit_studio, "ann", "a red square", "tiny", width=bad)
    with pytest.raises(editing.EditingError, match="ask for a smaller size"):
        generate_source(edit_studio, "ann", "a red square", "tiny", width=10**6, height=10**6)
