"""The leaderboard in a real browser: an admin computes results of a batch voted with several
criteria and sees interval ranks, 95% intervals, provisional badges and one board per criterion."""
from __future__ import annotations

import pytest

from tests.annotation import helpers
from tests.annotation.helpers import make_batch
from tests.support.browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]
MODELS = ("model-alpha-zq", "model-beta-kx")


def test_admin_sees_ranks_intervals_badges_and_criterion_boards(pw_app, browser):
    url, studio = pw_app
    batch_id, _ = make_batch(studio, "browser-board", 4, overlap=2, models=MODELS,
                             criteria=("overall", "instruction_fidelity", "visual_clarity"))
    for who in ("ann", "bob"):
        while (view := helpers.next_item(studio, batch_id, who)) is not None:
            helpers.vote(studio, view.assignment_id, who, "left",
                        criteria_choices={"instruction_fidelity": "right", "visual_clarity": "tie"})
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    admin = ctx.new_page()
    admin.set_default_timeout(20_000)
    sign_in(admin, url, "boss")
    admin.locator("#annotate-res-batch input").click()
    admin.get_by_role("option", name="browser-board", exact=True).click()
    admin.locator("#annotate-res-go").click()
    admin.wait_for_function(
        "() => (document.querySelector('#annotate-res-summary textarea')||{}).value?.includes('8 votes')")
    board = admin.locator("#annotate-res-board").inner_text()
    assert "95% CI" in board and "provisional" in board and MODELS[0] in board
    nodes = admin.locator("#annotate-res-nodes").inner_text()
    for criterion in ("overall", "instruction_fidelity", "visual_clarity"):
        assert f"criterion: {criterion}" in nodes
    assert "task: text-to-image" in nodes
    ctx.close()
