"""A newcomer closes the loop in Chromium on a fresh data folder, with no file edited and no restart:
taxonomy → synthesis batch with its gallery → fine-tune the tiny CPU model → "Compare with its base" →
votes by keyboard → the results of that batch. Screenshots of each screen are kept in the test's tmp dir."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]
NODE = "opengpt4o/gen/spatial/object_counting"


def _shot(page, folder, name):
    page.screenshot(path=str(folder / f"{name}.png"))


def test_a_newcomer_closes_the_loop_in_the_browser(live_app, page, tmp_path):
    url, studio = live_app
    page.set_viewport_size({"width": 1366, "height": 768})
    page.set_default_timeout(30_000)
    page.goto(url)

    # taxonomy: the first screen shows a node and its coverage
    page.get_by_role("tab", name="Taxonomy").click()
    expect(page.locator("#taxonomy-details")).not_to_be_empty()
    _shot(page, tmp_path, "1-taxonomy")

    # synthesis: a small batch with images, looked at in the gallery
    page.get_by_role("tab", name="Synthesis").click()
    nodes = page.locator("#synth-nodes input")
    nodes.click()
    nodes.fill("object_counting")
    page.get_by_role("option", name=NODE).click()
    page.keyboard.press("Escape")
    count = page.locator("#synth-count input")
    count.fill("4")
    count.press("Tab")
    page.locator("#synth-dataset textarea, #synth-dataset input").first.fill("loop")
    page.locator("#synth-run").click()
    page.locator("#synth-progress").get_by_text("done —").wait_for(timeout=90_000)
    expect(page.locator("#synth-gallery img")).to_have_count(4, timeout=30_000)
    expect(page.locator("#synth-batch input")).to_have_value(re.compile(r"· done · 4/4$"))
    page.locator("#synth-gallery").scroll_into_view_if_needed()
    _shot(page, tmp_path, "2-synthesis-gallery")

    # fine-tune: the CPU preset, a few steps
    page.get_by_role("tab", name="Fine-tune").click()
    page.locator("#tab-finetune").get_by_role("combobox", name="Preset", exact=True).click()
    page.get_by_role("option", name="CPU: teach the tiny model a new colour (LoRA)").click()
    page.locator("#tab-finetune").get_by_role("button", name="Load preset").click()
    page.get_by_text("Hyperparameters").click()
    expect(page.locator("#ft-resolution input")).to_have_value("32")
    expect(page.locator("#ft-max-steps input")).to_have_value("600")  # the whole preset is in the form
    for elem, value in (("ft-max-steps", "3"), ("ft-sample-every", "0"), ("ft-checkpointing-steps", "100")):
        field = page.locator(f"#{elem} input")
        field.fill(value)
        field.press("Tab")
    page.locator("#ft-run-name input, #ft-run-name textarea").fill("loop-run")
    page.locator("#ft-launch").click()
    expect(page.locator("#ft-report")).to_contain_text("Launched")
    expect(page.locator("#ft-status")).to_contain_text(" of 3 (")  # the launched run is selected, 3 steps
    expect(page.locator("#ft-status")).to_contain_text("completed", timeout=120_000)
    _shot(page, tmp_path, "3-finetune-done")

    # compare with its base: the estimate first, then the batch is made with progress
    page.locator("#ft-compare-base").click()
    expect(page.locator("#ft-run-info")).to_contain_text("estimated time", timeout=30_000)
    expect(page.locator("#ft-run-info")).to_contain_text("32×32")
    _shot(page, tmp_path, "4-compare-estimate")
    page.locator("#ft-compare-start").click()
    expect(page.locator("#ft-run-info")).to_contain_text("finished", timeout=300_000)
    _shot(page, tmp_path, "5-compare-made")

    # votes by keyboard on that batch
    batch = next(b for b in __import__("studio.annotation.service", fromlist=["x"]).list_batches(studio)
                 if b.name.startswith("loop-run vs base"))
    page.get_by_role("tab", name="Annotate").click()
    name = page.locator("#annotate-name input, #annotate-name textarea").first
    name.fill("newcomer")
    name.press("Tab")
    page.locator("#annotate-batch input").click()
    page.get_by_role("option", name=batch.name, exact=True).click()
    page.locator("#annotate-start").click()
    page.wait_for_function("() => (document.querySelector('#annotate-progress textarea')||{}).value?.includes('0 done')")
    _shot(page, tmp_path, "6-annotate")
    for k in range(batch.items):
        # a text-to-image batch asks instruction fidelity (the keys) and visual clarity (a choice)
        page.locator("#annotate-criterion-0").get_by_text("Tie (both good)").click()
        page.locator("body").click(position={"x": 5, "y": 5})
        page.keyboard.press("1" if k % 2 == 0 else "2")
        page.wait_for_function("(n) => (document.querySelector('#annotate-progress textarea')||{}).value"
                               "?.includes(`You: ${n} done`)", arg=k + 1)
    from studio.annotation import service

    assert service.get_batch(studio, batch.id).votes == batch.items

    # the results of that batch: it is the one selected, and its board names both sides
    results = page.locator("#annotate-results")
    results.scroll_into_view_if_needed()
    expect(page.locator("#annotate-res-batch input")).to_have_value(batch.name)
    page.locator("#annotate-res-go").click()
    board = page.locator("#annotate-res-board")
    expect(board).to_contain_text("loop-run", timeout=30_000)
    expect(board).to_contain_text("base")
    board.scroll_into_view_if_needed()
    _shot(page, tmp_path, "7-results")
