"""Open arenas in a real browser: an admin opens one on the Arena tab (a bad setting first gets a clear
message), and an annotator finds it in the Annotate tab's batch list and votes with two criteria."""
from __future__ import annotations

import os
import time

import pytest

from studio.annotation import service
from studio.annotation.results import vote_records
from studio.arena.open_arena import arena_status
from tests.support.browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ENGINES = ("red-engine", "green-engine")


def _value(page, elem_id):
    return page.locator(f"#{elem_id} textarea").input_value()


def test_admin_opens_an_arena_and_an_annotator_votes_in_it_with_two_criteria(arena_app, browser, tmp_path):
    url, studio = arena_app
    admin_ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    admin = admin_ctx.new_page()
    admin.set_default_timeout(60_000)  # the shared machine is slow at times
    sign_in(admin, url, "boss")
    admin.get_by_role("tab", name="Arena").click()
    admin.locator("#arena-name input, #arena-name textarea").first.fill("browser-arena")
    admin.locator("#arena-source").get_by_text("Pasted prompts").click()
    admin.locator("#arena-text textarea").fill("a red apple\n<b>a cat</b> on a sofa\na lighthouse at dusk")
    admin.locator("#arena-backends input").click()
    admin.get_by_role("option", name=ENGINES[0], exact=True).click()
    admin.locator("#arena-open").click()  # one backend: refused with the fix
    admin.get_by_text("at least two backends").first.wait_for()
    assert not [b for b in service.list_batches(studio) if b.name == "browser-arena"]

    admin.locator("#arena-backends input").click()
    admin.get_by_role("option", name=ENGINES[1], exact=True).click()
    admin.locator("#arena-name").click()  # close the option list
    admin.locator("#arena-open").click()
    admin.wait_for_function("() => (document.querySelector('#arena-message textarea')||{}).value?.includes('is open')")
    arena = service.resolve_batch(studio, "browser-arena")
    deadline = time.monotonic() + 60
    while arena_status(studio, arena).ready < 2:  # the keeper makes the first comparisons
        assert time.monotonic() < deadline
        time.sleep(0.2)
    admin.locator("#arena-refresh").click()
    admin.wait_for_function("() => (document.querySelector('#arena-status textarea')||{}).value?.includes('ready')")
    assert "red-engine" not in _value(admin, "arena-message")

    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.set_default_timeout(60_000)
    sign_in(page, url, "ann")
    page.locator("#annotate-batch input").click()
    page.get_by_role("option", name="browser-arena", exact=True).click()
    page.locator("#annotate-start").click()
    radio = page.locator("#annotate-criterion-0")
    radio.wait_for(state="visible")
    assert "Visual clarity" in radio.inner_text()
    assert _value(page, "annotate-first-criterion") == "Instruction fidelity"
    prompt = _value(page, "annotate-prompt")
    assert prompt in ("a red apple", "<b>a cat</b> on a sofa", "a lighthouse at dusk")  # shown as text
    # blind until the vote (the page's backend lists name every configured backend, the item does not)
    panel = page.locator("#annotate-vote-panel").inner_html()
    assert all(m not in panel for m in ENGINES)
    radio.get_by_text("B better").click()
    page.locator("#annotate-left").click()
    page.wait_for_function("() => (document.querySelector('#annotate-status textarea')||{}).value?.includes('Recorded')")
    status = _value(page, "annotate-status")
    assert status.startswith("Recorded: A better") and all(m in status for m in ENGINES)
    page.wait_for_function("(p) => document.querySelector('#annotate-prompt textarea').value !== p", arg=prompt)
    shot = os.environ.get("STUDIO_TEST_SCREENSHOT_DIR") or str(tmp_path)
    page.screenshot(path=os.path.join(shot, "open-arena-annotate.png"), full_page=False)
    ctx.close()

    votes = vote_records(studio, arena)
    assert len(votes) == 1
    crit = votes[0]["criteria"]
    assert set(crit) == {"instruction_fidelity", "visual_clarity"}
    assert {crit["instruction_fidelity"], crit["visual_clarity"]} == {"model_a", "model_b"}  # A for one, B for the other

    admin.locator("#arena-refresh").click()
    admin.wait_for_function("() => (document.querySelector('#arena-status textarea')||{}).value?.includes('1 vote ·')")
    admin.screenshot(path=os.path.join(shot, "open-arena-admin.png"), full_page=True)
    assert "red-engine" in admin.locator("#arena-board").inner_text()
    admin_ctx.close()
