"""Starting a run from the Reason tab's fields, without a server (studio.reasoning.start)."""
from __future__ import annotations

import pytest
from PIL import Image

from studio.reasoning import ReasoningInputError
from studio.reasoning.examples import get_example
from studio.reasoning.runner import ReasoningRunner
from studio.reasoning.start import RunForm, start_run
from studio.reasoning.store import RunStore


def test_render_needs_a_rationale_and_renders_the_one_written(reason_studio):
    runner = ReasoningRunner(reason_studio)
    with pytest.raises(ReasoningInputError, match="rationale box is empty"):
        start_run(runner, RunForm("implicit", question="q", rationale="  ", image_backend="painter"),
                  ask_reasoner=False)
    example = get_example("ripe-banana")
    started = start_run(runner, RunForm("implicit", question=example.question, rationale=example.rationale,
                                        reasoner="reasoner", image_backend="painter"), ask_reasoner=False)
    assert started.first.status == "running" and started.first.reasoner is None and started.notices == []
    *_, last = started.rest
    assert last.status == "done" and last.run_id
    assert sum(item.kind == "image" for item in last.items) == 2


def test_a_big_input_image_is_shrunk_with_a_notice_and_checks_come_before_anything_is_stored(reason_studio, tmp_path):
    reason_studio.settings.max_working_side = 64
    big = tmp_path / "big.png"
    Image.new("RGB", (200, 100), (10, 120, 30)).save(big)
    runner = ReasoningRunner(reason_studio)
    with pytest.raises(ReasoningInputError, match="needs an input image"):
        start_run(runner, RunForm("mm_image", question="what season?", reasoner="reasoner", image_backend="painter"),
                  ask_reasoner=True)
    assert RunStore(reason_studio).recent(10) == []
    started = start_run(runner, RunForm("mm_image", question="what season?", image_path=str(big),
                                        reasoner="reasoner", image_backend="painter"), ask_reasoner=True)
    assert started.notices == ["image was 200×100; resized to 64×32 to stay within 64px"]
    started.rest.close()
