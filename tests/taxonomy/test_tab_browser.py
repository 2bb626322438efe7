"""The Taxonomy tab in a real browser: search a subtask, read its definition, count and coverage,
then hand the node to the Synthesis tab and see counts refresh when coming back."""
from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect

from tests.taxonomy.synthesis_double import with_synthesis_double

pytestmark = pytest.mark.browser


def test_search_relative_position_then_synthesize_and_come_back(monkeypatch, data_dir, page):
    from tests.support.live_app import launched_app

    with_synthesis_double(monkeypatch)
    with launched_app(data_dir) as (url, studio):
        studio.samples.add(task="text-to-image", prompt="a cup left of a plate",
                           taxonomy_id="opengpt4o/gen/spatial/relative_position")
        page.goto(url)
        page.get_by_role("tab", name="Taxonomy").click()
        details = page.locator("#taxonomy-details")
        expect(details).to_contain_text("OpenGPT-4o-Image", timeout=20_000)  # filled when the page loads

        box = page.locator("#taxonomy-search textarea, #taxonomy-search input").first
        box.fill("relative position")
        box.press("Enter")
        expect(details).to_contain_text("Relative Position")
        expect(details).to_contain_text("Objects are placed in the stated planar relation")
        expect(details.locator(".taxonomy-target")).to_have_text("2,000")
        expect(details).to_contain_text("1 of 2,000 (0.1%)")
        tree = page.locator("#taxonomy-tree")
        expect(tree).to_contain_text("opengpt4o/gen/spatial/relative_position")
        expect(tree).not_to_contain_text("sharegpt4o")
        expect(page.locator("#taxonomy-chart-heading")).to_contain_text("Coverage of Spatial Reasoning")
        expect(page.locator("#taxonomy-chart")).to_contain_text("Object Counting")
        expect(page.locator("#taxonomy-chart")).to_contain_text("still needed for the paper target")
        if os.environ.get("STUDIO_TEST_SCREENSHOTS"):
            page.screenshot(path=os.environ["STUDIO_TEST_SCREENSHOTS"], full_page=True)

        page.locator("#taxonomy-synthesize").click()
        expect(page.locator("#double-synthesis-nodes")).to_contain_text("opengpt4o/gen/spatial/relative_position")
        expect(page.get_by_role("tab", name="Synthesis")).to_have_attribute("aria-selected", "true")

        # the Synthesis tab stores a sample; opening the Taxonomy tab again shows it
        studio.samples.add(task="text-to-image", prompt="a bird above a tree",
                           taxonomy_id="opengpt4o/gen/spatial/relative_position")
        page.get_by_role("tab", name="Taxonomy").click()
        expect(details).to_contain_text("2 of 2,000 (0.1%)")

        # clicking a row of the tree selects that node; the paper's inconsistent totals are shown
        page.locator("#taxonomy-tree").get_by_text("OpenGPT-4o-Image").first.click()
        expect(details).to_contain_text("The paper's numbers disagree")
        expect(details).to_contain_text("target 80,000 but the listed children's targets sum to 80,500")
        expect(details).to_contain_text("Subtasks the paper claims")
