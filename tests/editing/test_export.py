"""Keeping sessions as data: multi-turn samples, triplets, masks and references, annotation pairs."""
from __future__ import annotations

import pytest
from PIL import Image, ImageDraw

from studio import editing
from studio.editing import EditingError
from tests.editing.conftest import picture, png_bytes


def _session(studio, owner="ann"):
    view, _ = editing.start_from_upload(studio, owner, png_bytes(picture()), name="pic.png")
    t1 = editing.submit_turn(studio, owner, view.id, "red box", "painter", shown=None, params={"seed": 5}).turn
    t2 = editing.submit_turn(studio, owner, view.id, "blue box", "painter", shown=t1.id).turn
    return view, t1, t2


def test_a_branch_exports_as_one_multi_turn_sample(edit_studio):
    view, t1, t2 = _session(edit_studio)
    editing.submit_turn(edit_studio, "ann", view.id, "please fail", "painter", shown=t2.id)  # head: failed
    [sid] = editing.export_branch(edit_studio, "ann", view.id, dataset="chats")
    sample = edit_studio.samples.get(sid)
    assert sample.task == "multi-turn-edit" and sample.dataset == "chats" and sample.source == "edit-chat"
    assert sample.input_images == [view.source_image]
    assert [(t["instruction"], t["output_image"]) for t in sample.turns] == [
        ("red box", t1.output_image), ("blue box", t2.output_image)]
    assert sample.output_image == t2.output_image and sample.prompt == "red box"
    assert sample.seed == 5 and sample.backend == "painter"
    assert sample.provenance["edit_session"] == view.id
    # the branch ending at turn 1 only
    [sid1] = editing.export_branch(edit_studio, "ann", view.id, tip=t1.id)
    assert len(edit_studio.samples.get(sid1).turns) == 1


def test_a_branch_exports_as_single_turn_triplets(edit_studio):
    view, t1, t2 = _session(edit_studio)
    ids = editing.export_branch(edit_studio, "ann", view.id, form="triplets")
    samples = [edit_studio.samples.get(i) for i in ids]
    assert [s.task for s in samples] == ["edit", "edit"]
    assert [(s.input_images, s.prompt, s.output_image) for s in samples] == [
        ([view.source_image], "red box", t1.output_image), ([t1.output_image], "blue box", t2.output_image)]
    fresh, _ = editing.start_from_upload(edit_studio, "ann", png_bytes(picture()), name="x.png")
    with pytest.raises(EditingError, match="no finished turn"):
        editing.export_branch(edit_studio, "ann", fresh.id)


def test_masks_bound_the_edit_and_the_drift_region(edit_studio):
    view, _ = editing.start_from_upload(edit_studio, "ann", png_bytes(picture(96, 64)), name="pic.png")
    mask = Image.new("L", (96, 64), 0)
    ImageDraw.Draw(mask).rectangle((60, 30, 89, 59), fill=255)
    ref = picture(32, 32)
    t = editing.submit_turn(edit_studio, "ann", view.id, "yellow here", "painter", shown=None,
                            mask=mask, references=[ref]).turn
    out = edit_studio.images.open(t.output_image)
    assert out.getpixel((75, 45)) == (240, 220, 40) and out.getpixel((10, 50)) != (240, 220, 40)
    assert t.mask_image and len(t.reference_images) == 1
    assert edit_studio.images.open(t.reference_images[0]).size == (32, 32)
    assert t.drift["psnr"] is None and t.drift["outside_fraction"] < 1.0
    [sid] = editing.export_branch(edit_studio, "ann", view.id)
    assert edit_studio.samples.get(sid).turns[0]["mask_image"] == t.mask_image


def test_two_backends_on_the_same_image_make_an_annotation_pair(edit_studio):
    from studio.annotation.service import batch_items

    view, t1, _ = _session(edit_studio)
    editing.set_head(edit_studio, "ann", view.id, t1.id)
    other = editing.submit_turn(edit_studio, "ann", view.id, "blue box", "painter2", shown=t1.id).turn
    t2 = [t for t in editing.get_session(edit_studio, "ann", view.id).children(t1.id) if t.backend == "painter"][0]
    item = editing.send_pair_to_annotation(edit_studio, "ann", view.id, t2.id, other.id, batch="chat-pairs")
    again = editing.send_pair_to_annotation(edit_studio, "ann", view.id, t2.id, other.id, batch="chat-pairs")
    assert item == again
    [row] = batch_items(edit_studio, "chat-pairs")
    assert row["prompt"] == "blue box" and row["task"] == "edit"
    with pytest.raises(EditingError, match="same image"):
        editing.send_pair_to_annotation(edit_studio, "ann", view.id, t1.id, other.id)
