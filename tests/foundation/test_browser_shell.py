import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_shell_lists_backends_in_a_real_browser(live_app, page):
    url, _ = live_app
    page.goto(url)
    page.get_by_text("Image Alignment Studio").first.wait_for()
    page.get_by_text("Backends", exact=True).first.click()
    table = page.locator("#backends-table")
    expect(table).to_contain_text("procedural")
    expect(table).to_contain_text("edit, text-to-image")


def test_a_backend_added_while_the_page_is_open_reaches_every_tab_on_a_tab_change(live_app, page):
    from backends.registry import BackendEntry

    url, studio = live_app
    page.goto(url)
    page.get_by_text("Image Alignment Studio").first.wait_for()
    studio.backends.add(BackendEntry("ft-newcomer-abc123", "procedural", "Fine-tuned (test)",
                                     capabilities=studio.backends.entry("procedural").capabilities))
    page.get_by_role("tab", name="Synthesis").click()
    page.get_by_text("Backends", exact=True).first.click()
    expect(page.locator("#backends-table")).to_contain_text("ft-newcomer-abc123", timeout=20_000)
    page.locator("#synth-images input").click()
    expect(page.get_by_role("option", name="ft-newcomer-abc123")).to_be_visible(timeout=20_000)
