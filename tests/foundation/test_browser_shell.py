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
