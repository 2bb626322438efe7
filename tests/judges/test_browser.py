"""The agreement view in a real browser: an admin picks a batch and a judge and sees the chart and table."""
from __future__ import annotations

import pytest

from tests.judges.test_arena import make_batch
from tests.support.browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def judge_app(tmp_path, backends_yaml):
    from tests.annotation.live import annotate_app

    with annotate_app(tmp_path / "app-data", auth_mode="password", users="boss:boss-pw:admin,ann:ann-pw:annotator",
                      backends_config=backends_yaml) as served:
        yield served


def test_admin_lets_the_judge_vote_and_sees_agreement_chart(judge_app, browser, stub):
    url, studio = judge_app
    make_batch(studio)
    ctx = browser.new_context(viewport={"width": 1400, "height": 1100})
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    sign_in(page, url, "boss")
    page.locator("#annotate-res-batch input").click()
    page.get_by_role("option", name="judged", exact=True).click()
    page.locator("#annotate-judges").get_by_text("AI judges").first.click()
    page.locator("#annotate-judge-name input").click()
    page.get_by_role("option", name="vlm", exact=True).click()
    page.locator("#annotate-judge-vote").click()
    page.wait_for_function(
        "() => (document.querySelector('#annotate-judge-summary textarea')||{}).value?.includes('ai:vlm voted')")
    assert len(stub.requests) == 2 * 2 * 6  # two criteria, both orders, six items
    page.locator("#annotate-judge-show").click()
    page.wait_for_function(
        "() => (document.querySelector('#annotate-judge-summary textarea')||{}).value?.includes('human κ')")
    table = page.locator("#annotate-judge-table")
    table.get_by_text("gen/count", exact=True).first.wait_for(state="attached")
    text = table.inner_text()
    assert all(node in text for node in ("(all)", "gen/color", "gen/count", "visual_quality"))
    chart = page.locator("#annotate-judge-chart")
    chart.locator("canvas, svg").first.wait_for()
    assert chart.locator("canvas, svg").first.is_visible()
    page.get_by_text("Combined: human votes + the judge").click()
    page.locator("#annotate-judge-board-go").click()
    board = page.locator("#annotate-judge-board")
    board.get_by_text("combined: human votes + AI judge vlm", exact=True).first.wait_for(state="attached")
    assert "m1" in board.inner_text()
    ctx.close()

    annotator = browser.new_context().new_page()  # annotators never see the admin part
    annotator.set_default_timeout(30_000)
    sign_in(annotator, url, "ann")
    assert not annotator.locator("#annotate-judges").is_visible()
