"""Small pieces of the Edit chat tab that need no server: the painted mask, interrupted turns."""
from __future__ import annotations

from datetime import timedelta

from PIL import Image, ImageDraw

from studio import editing
from studio.db import utcnow
from studio.editing.models import EditTurn
from studio.ui.edit_render import mask_from_editor
from tests.editing.conftest import picture, png_bytes


def test_the_painted_layers_become_the_mask():
    layer = Image.new("RGBA", (40, 30), (0, 0, 0, 0))
    ImageDraw.Draw(layer).rectangle((5, 5, 14, 9), fill=(204, 50, 50, 255))
    second = Image.new("RGBA", (40, 30), (0, 0, 0, 0))
    second.putpixel((30, 20), (0, 0, 255, 128))
    mask = mask_from_editor({"background": Image.new("RGB", (40, 30)), "layers": [layer, second], "composite": None})
    assert mask.mode == "L" and mask.getbbox() == (5, 5, 31, 21)
    assert mask.getpixel((10, 7)) == 255 and mask.getpixel((20, 20)) == 0
    assert mask_from_editor({"background": None, "layers": [Image.new("RGBA", (4, 4))]}) is None
    assert mask_from_editor(None) is None


def test_a_turn_cut_off_by_a_server_stop_shows_as_failed_and_can_be_retried(edit_studio):
    view, _ = editing.start_from_upload(edit_studio, "ann", png_bytes(picture()), name="p.png")
    with edit_studio.db.session() as s:
        s.add(EditTurn(session_id=view.id, parent_id=None, seq=1, instruction="red box", backend="painter",
                       params={"timeout_s": 5.0}, input_image=view.source_image, status="running",
                       started_at=utcnow() - timedelta(hours=1)))
    [turn] = editing.get_session(edit_studio, "ann", view.id).turns.values()
    assert turn.status == "failed" and turn.error.startswith("interrupted")
    assert editing.retry_turn(edit_studio, "ann", view.id, turn.id).turn.status == "done"


def test_a_refusal_does_not_offer_retry_but_a_passing_failure_does(edit_studio):
    from studio.ui.edit_render import turn_caption

    view, _ = editing.start_from_upload(edit_studio, "ann", png_bytes(picture()), name="pic.png")
    out = editing.submit_turn(edit_studio, "ann", view.id, "fail: a change this backend cannot make", "painter",
                              shown=None)
    assert out.turn.status == "failed"
    refusal = turn_caption(out.turn)
    assert "Retry" not in refusal and "rephrase the instruction or pick another backend" in refusal
    timed_out = out.turn.__class__(**{**out.turn.__dict__, "error": "backend 'x' timed out after 5 s"})
    assert "press *Retry*" in turn_caption(timed_out)
