"""Work a crashed server left "running" (edit turns, synthesis items) fails at start-up and is retried at once."""
from __future__ import annotations

import socket

from sqlalchemy import update

from studio import editing
from studio.editing.models import EditTurn
from tests.editing.conftest import picture, png_bytes


def test_interrupted_turns_and_items_fail_at_start_up_and_retry_at_once(edit_studio):
    from studio.core import Studio
    from studio.synthesis.batch_queries import batch_items
    from studio.synthesis.batches import BatchOptions, create_batch, retry_failed, run_batch
    from studio.synthesis.models import SynthesisBatch, SynthesisItem
    from studio.synthesis.planner import SynthesisRequest
    from studio.ui.app import build_app

    view, _ = editing.start_from_upload(edit_studio, "ann", png_bytes(picture()), name="pic.png")
    turn = editing.submit_turn(edit_studio, "ann", view.id, "add a red box", "painter", shown=None).turn
    bid = create_batch(edit_studio, SynthesisRequest(nodes=["sharegpt4o/t2i/object"], count=3, seed=2,
                                                     method="template"), BatchOptions(dataset="crash"))
    first = batch_items(edit_studio, bid)[0]["position"]
    with edit_studio.db.session() as s:  # what a server killed mid-work leaves behind
        s.execute(update(EditTurn).where(EditTurn.id == turn.id).values(status="running", output_image=None))
        s.execute(update(SynthesisBatch).where(SynthesisBatch.id == bid)
                  .values(status="running", runner=f"999999999@{socket.gethostname()}"))
        s.execute(update(SynthesisItem).where(SynthesisItem.batch_id == bid, SynthesisItem.position == first)
                  .values(state="running"))
    edit_studio.close()

    restarted = Studio(edit_studio.settings)
    try:
        build_app(restarted)  # the server starts again
        stopped = editing.get_session(restarted, "ann", view.id).turns[turn.id]
        assert (stopped.status, stopped.error) == ("failed", "failed: the server stopped")
        assert editing.retry_turn(restarted, "ann", view.id, turn.id).turn.status == "done"
        failed = batch_items(restarted, bid, "failed")
        assert [(f["position"], f["error"]) for f in failed] == [(first, "failed: the server stopped")]
        assert retry_failed(restarted, bid) == 1
        assert run_batch(restarted, bid).status == "done"
    finally:
        restarted.close()
