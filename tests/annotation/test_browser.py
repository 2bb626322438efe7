"""The Annotate tab in a real browser: an annotator signs in, votes with the keyboard, undoes (the item
never comes back to them), reloads and continues; an admin sees the win/tie/loss chart. Prompts are shown as text, never run as HTML."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from studio.annotation import service
from studio.annotation.models import ComparisonItem, PairwiseVote
from tests.annotation.helpers import make_batch
from tests.support.browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]
MODELS = ("model-alpha-zq", "model-beta-kx")


def _prompt(page) -> str:
    return page.locator("#annotate-prompt textarea").input_value()


def _wait_status(page, text):
    page.wait_for_function(
        "(t) => (document.querySelector('#annotate-status textarea')||{}).value?.includes(t)", arg=text)


def _choose_batch(page, name):
    page.locator("#annotate-batch input").click()
    page.get_by_role("option", name=name, exact=True).click()
    page.locator("#annotate-start").click()


def test_annotator_votes_with_keys_undoes_reloads_and_continues_then_admin_sees_chart(pw_app, browser):
    url, studio = pw_app
    batch_id, items = make_batch(studio, "browser-batch", 4, models=MODELS)
    with studio.db.session() as s:
        for k, item_id in enumerate(items):
            s.get(ComparisonItem, item_id).prompt = f"<script>window.__pwned=1</script><b>item {k}</b>"
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.set_default_timeout(20_000)
    sign_in(page, url, "ann")
    assert page.locator("#annotate-whoami textarea").input_value() == "ann (annotator)"
    assert not page.locator("#annotate-admin").is_visible()
    _choose_batch(page, "browser-batch")
    page.wait_for_function("() => (document.querySelector('#annotate-progress textarea')||{}).value?.includes('0 done')")
    first_prompt = _prompt(page)
    assert first_prompt.startswith("<script>window.__pwned=1</script><b>item ")
    assert page.evaluate("() => window.__pwned === undefined")
    assert all(m not in page.content() for m in MODELS)

    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("1")  # A better
    _wait_status(page, "Recorded: A better")
    assert any(m in page.locator("#annotate-status textarea").input_value() for m in MODELS)
    page.wait_for_function("(p) => document.querySelector('#annotate-prompt textarea').value !== p", arg=first_prompt)
    second_prompt = _prompt(page)

    page.keyboard.press("u")  # undo: the vote is withdrawn; the first item never comes back to ann
    _wait_status(page, "withdrawn")
    assert _prompt(page) == second_prompt
    assert service.get_batch(studio, batch_id).votes == 0

    page.keyboard.press("2")  # B better on the second item
    _wait_status(page, "Recorded: B better")
    page.wait_for_function("(p) => document.querySelector('#annotate-prompt textarea').value !== p", arg=second_prompt)
    third_prompt = _prompt(page)
    assert third_prompt not in (first_prompt, second_prompt)

    page.reload()  # same person, same place
    page.get_by_role("tab", name="Annotate").click()
    page.wait_for_function("(p) => (document.querySelector('#annotate-prompt textarea')||{}).value === p",
                           arg=third_prompt)
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("3")
    _wait_status(page, "Tie (both good)")
    page.wait_for_function("() => document.querySelector('#annotate-progress textarea').value.startsWith('You: 2 done')")
    ctx.close()
    assert service.get_batch(studio, batch_id).votes == 2

    admin_ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    admin = admin_ctx.new_page()
    admin.set_default_timeout(20_000)
    sign_in(admin, url, "boss")
    expect(admin.locator("#annotate-admin")).to_be_visible()
    _choose_batch(admin, "browser-batch")  # the results follow the batch being annotated, not "All batches"
    admin.wait_for_function(
        "() => (document.querySelector('#annotate-res-batch input')||{}).value === 'browser-batch'")
    admin.locator("#annotate-res-go").click()
    admin.wait_for_function(
        "() => (document.querySelector('#annotate-res-summary textarea')||{}).value?.includes('2 votes')")
    chart = admin.locator("#annotate-res-chart")
    expect(chart.locator("canvas, svg").first).to_be_visible()  # it may redraw once as the model list fills
    assert MODELS[0] in admin.locator("#annotate-res-board").inner_text()
    admin_ctx.close()


def test_criteria_radios_are_asked_and_cleared_for_the_next_item(pw_app, browser):
    url, studio = pw_app
    batch_id, _ = make_batch(studio, "browser-criteria", 3, models=MODELS, criteria=("overall", "visual_quality"))
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.set_default_timeout(20_000)
    sign_in(page, url, "bob")
    _choose_batch(page, "browser-criteria")
    radio = page.locator("#annotate-criterion-0")
    radio.wait_for(state="visible")
    assert "Visual quality" in radio.inner_text()
    first_prompt = page.locator("#annotate-prompt textarea").input_value()
    page.locator("#annotate-left").click()  # the second criterion is not answered yet
    page.get_by_text("choose A, B or a tie").first.wait_for()
    radio.get_by_text("B better").click()
    page.locator("#annotate-left").click()
    _wait_status(page, "Recorded: A better")
    page.wait_for_function("(p) => document.querySelector('#annotate-prompt textarea').value !== p", arg=first_prompt)
    page.wait_for_function("() => document.querySelectorAll('#annotate-criterion-0 input:checked').length === 0")
    ctx.close()
    with studio.db.session() as s:
        (criteria,) = s.execute(select(PairwiseVote.criteria).where(PairwiseVote.batch_id == batch_id)).one()
    # A better overall, B better in visual quality: two different models won
    assert set(criteria) == {"overall", "visual_quality"} and criteria["overall"] != criteria["visual_quality"]
