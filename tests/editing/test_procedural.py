"""The editing chat on the shipped procedural backend: scene-graph edits, refusals on photos."""
from __future__ import annotations

from PIL import Image

from studio import editing
from tests.editing.conftest import png_bytes


def test_procedural_session_edits_the_scene_and_reports_refusals(studio):
    view, _ = editing.start_from_prompt(studio, "ann", "a red apple to the left of a blue cup", "procedural",
                                        width=256, height=256)
    assert "scene_graph" in studio.images.open(view.source_image).info
    t1 = editing.submit_turn(studio, "ann", view.id, "make the apple green", "procedural", shown=None).turn
    assert t1.status == "done" and t1.honored == ["make the apple green"]
    assert "drawn by the procedural scene renderer, not a neural model" in t1.notices
    assert "scene_graph" in studio.images.open(t1.output_image).info  # the next turn edits the scene
    t2 = editing.submit_turn(studio, "ann", view.id, "remove the cup", "procedural", shown=t1.id).turn
    assert t2.status == "done" and t2.drift["ssim"] > 0.99
    # a photo has no scene graph: object edits are refused with the engine's reason, the session goes on
    photo, _ = editing.start_from_upload(studio, "ann", png_bytes(Image.effect_noise((128, 96), 40).convert("RGB")))
    refused = editing.submit_turn(studio, "ann", photo.id, "add a dog", "procedural", shown=None).turn
    assert refused.status == "failed" and "no procedural scene graph" in refused.error
    brighter = editing.submit_turn(studio, "ann", photo.id, "make it brighter", "procedural", shown=refused.id).turn
    assert brighter.status == "done" and brighter.parent_id is None
