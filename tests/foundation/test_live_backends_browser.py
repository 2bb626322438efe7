"""Backend lists follow the registry in the browser: a backend added while the page is open shows up in
a tab when that tab is selected, and redrawing lists never leaves another tab's fields refusing input."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from backends.registry import BackendEntry

pytestmark = pytest.mark.browser


def test_a_backend_added_while_the_page_is_open_reaches_the_tab_selected(live_app, page):
    url, studio = live_app
    page.goto(url)
    page.get_by_role("tab", name="Taxonomy").click()
    expect(page.locator("#taxonomy-details")).not_to_be_empty(timeout=30_000)

    # a finished run registered as a backend, after the page was drawn
    studio.backends.add(BackendEntry(name="late-painter", engine="procedural", label="a run registered late"))

    # the first visit of Annotate after another tab: its name field still takes what is typed
    page.get_by_role("tab", name="Annotate").click()
    expect(page.locator("#annotate-whoami textarea")).to_have_value("not signed in", timeout=30_000)
    name = page.locator("#annotate-name textarea, #annotate-name input").first
    name.fill("newcomer")
    name.press("Tab")
    expect(name).to_have_value("newcomer")

    page.get_by_role("tab", name="Edit chat").click()
    page.get_by_text("Backend and parameters").click()
    page.locator("#edit-backend input").click()
    expect(page.get_by_role("option", name="a run registered late", exact=True)).to_be_visible(timeout=20_000)
    # choosing it is accepted by the server (the edit settings follow the chosen backend's defaults)
    page.get_by_role("option", name="a run registered late", exact=True).click()
    page.wait_for_timeout(2000)
    expect(page.get_by_text("not in the list of choices")).to_have_count(0)
