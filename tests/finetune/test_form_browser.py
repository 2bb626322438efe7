"""The Fine-tune form in a real browser: only the current task's settings, labels not cut off."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_the_form_shows_only_the_tasks_settings_and_whole_labels(live_app, page):
    url, _ = live_app
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(url)
    page.get_by_role("tab", name="Fine-tune").click()
    page.get_by_text("Hyperparameters").click()
    expect(page.locator("#ft-resolution")).to_be_visible()
    for hidden in ("#ft-prompt-mask-prob", "#ft-image-token-mask-prob", "#ft-conditioning-dropout"):
        expect(page.locator(hidden)).to_be_hidden()
    label = page.locator("#ft-gradient-checkpointing").get_by_text("Gradient checkpointing")
    assert label.evaluate("e => e.scrollWidth <= e.clientWidth + 1 && e.getBoundingClientRect().height < 40")
    page.locator("#tab-finetune").get_by_label("Task").click()
    page.get_by_role("option", name="Janus text + image to image (Janus-4o recipe, joint)").click()
    expect(page.locator("#ft-prompt-mask-prob")).to_be_visible()
    expect(page.locator("#ft-image-token-mask-prob")).to_be_visible()
    expect(page.locator("#ft-conditioning-dropout")).to_be_hidden()
