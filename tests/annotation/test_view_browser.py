"""What an annotator sees at 1366×768: tiny images filling their boxes, the vote buttons on screen."""
from __future__ import annotations

import pytest
from PIL import Image

from studio.annotation import service

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("criteria", [["overall"], ["instruction_fidelity", "visual_clarity"]],
                         ids=["one-question", "text-to-image-questions"])
def test_tiny_images_fill_their_boxes_and_the_buttons_are_on_screen(live_app, browser, tmp_path, criteria):
    url, studio = live_app
    batch_id = service.create_batch(studio, "tiny-view", criteria=criteria)
    for i in range(2):
        a = studio.samples.store_image(Image.new("RGB", (32, 32), (200, 40 * i, 40)))
        b = studio.samples.store_image(Image.new("RGB", (32, 32), (40, 40 * i, 200)))
        service.add_comparison(studio, batch_id, prompt=f"tiny {i}", task="text-to-image", output_a=a,
                               model_a="m1", output_b=b, model_b="m2")
    ctx = browser.new_context(viewport={"width": 1366, "height": 768})
    page = ctx.new_page()
    page.set_default_timeout(20_000)
    page.goto(url)
    page.get_by_role("tab", name="Annotate").click()
    page.wait_for_function("() => (document.querySelector('#annotate-whoami textarea')||{}).value")  # page loaded
    page.locator("#annotate-name input, #annotate-name textarea").first.fill("newcomer")
    page.locator("#annotate-batch input").click()  # filled on load, before any Start
    page.get_by_role("option", name="tiny-view", exact=True).click()
    page.wait_for_function("() => (document.querySelector('#annotate-batch input')||{}).value === 'tiny-view'")
    page.locator("#annotate-start").click()
    page.wait_for_function("() => (document.querySelector('#annotate-progress textarea')||{}).value?.includes('0 done')",
                           timeout=40_000)
    img = page.locator("#annotate-a img")
    img.wait_for()
    box = img.bounding_box()
    assert box["height"] >= 200  # not a 32-px stamp in a large box
    assert img.evaluate("e => e.naturalWidth") >= 256  # enlarged by a whole factor, nearest-neighbour
    page.wait_for_function(  # the scroll that follows Start
        "() => Math.abs(document.getElementById('annotate-vote-panel').getBoundingClientRect().top) < 2")
    page.screenshot(path=str(tmp_path / "annotate-1366x768.png"))
    box = img.bounding_box()
    assert box["y"] >= 0, "the images scrolled out of view"
    questions = ["#annotate-criterion-0"] if len(criteria) > 1 else []
    for button in ("#annotate-left", "#annotate-right", "#annotate-skip", *questions):
        b = page.locator(button).bounding_box()
        assert 0 <= b["y"] and b["y"] + b["height"] <= 768, f"{button} is off screen at 1366×768"
    ctx.close()
