"""The Fine-tune form in a real browser: only the current task's settings, labels not cut off, the log
tail on its latest lines."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

TASK_ONLY = ("#ft-prompt-mask-prob", "#ft-image-token-mask-prob", "#ft-conditioning-dropout", "#ft-beta-dpo")
#: true when the element's text fits its own box and no ancestor that clips its overflow cuts it off
WHOLE = """e => {
  if (e.scrollWidth > e.clientWidth) return false;
  const r = e.getBoundingClientRect();
  for (let a = e.parentElement; a; a = a.parentElement) {
    const s = getComputedStyle(a);
    if (s.overflowX === 'visible' && s.overflowY === 'visible') continue;
    const b = a.getBoundingClientRect();
    if (r.left < b.left - 1 || r.right > b.right + 1 || r.top < b.top - 1 || r.bottom > b.bottom + 1) return false;
  }
  return true;
}"""


def _pick(page, label, option):
    box = page.locator("#tab-finetune").get_by_role("combobox", name=label, exact=True)
    box.click()
    box.fill(option)
    page.get_by_role("option", name=option, exact=True).wait_for()
    box.press("Enter")


def test_the_form_shows_only_the_tasks_settings_and_whole_labels(live_app, page):
    url, _ = live_app
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(url)
    page.get_by_role("tab", name="Fine-tune").click()
    page.get_by_text("Hyperparameters").click()
    expect(page.locator("#ft-resolution")).to_be_visible()
    for hidden in TASK_ONLY:
        expect(page.locator(hidden)).to_be_hidden()
    label = page.locator("#ft-gradient-checkpointing").get_by_text("Gradient checkpointing")
    label.scroll_into_view_if_needed()
    assert label.evaluate("e => e.scrollWidth <= e.clientWidth && e.getBoundingClientRect().height < 30")
    assert label.evaluate(WHOLE)
    _pick(page, "Task", "Janus text + image to image (Janus-4o recipe, joint)")
    expect(page.locator("#ft-prompt-mask-prob")).to_be_visible()
    expect(page.locator("#ft-image-token-mask-prob")).to_be_visible()
    expect(page.locator("#ft-conditioning-dropout")).to_be_hidden()
    # a plain text-to-image preset takes the Janus settings away again, and shows no DPO β
    _pick(page, "Preset", "diffusers LoRA (text-to-image)")
    page.get_by_role("button", name="Load preset").click()
    expect(page.locator("#tab-finetune").get_by_role("combobox", name="Task", exact=True)).to_have_value(
        "Text-to-image (diffusers UNet)")
    for hidden in TASK_ONLY:
        expect(page.locator(hidden)).to_be_hidden()
    _pick(page, "Task", "Diffusion-DPO on preference pairs (text-to-image)")
    expect(page.locator("#ft-beta-dpo")).to_be_visible()


def test_the_log_tail_opens_on_the_latest_lines(live_app, page, tmp_path):
    from finetune.tracker import RunTracker

    url, studio = live_app
    log = tmp_path / "train.log"
    log.write_text("".join(f"line {i}: " + ("set-up " if i < 5 else "step ") * 12 + "\n" for i in range(60)))
    config = {"name": "logged", "task": "text-to-image", "method": "lora", "base_model": "m"}
    RunTracker(studio.db).create_run(config=config, output_dir=str(tmp_path / "run"), log_path=str(log),
                                     device="cpu", status="stopped")
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(url)
    page.get_by_role("tab", name="Fine-tune").click()
    _pick(page, "Selected run", "logged · stopped")
    tail = page.locator("#ft-log textarea")
    expect(tail).to_have_value(re.compile(r"line 59: (step )+$"))
    tail.scroll_into_view_if_needed()
    page.wait_for_function("() => { const t = document.querySelector('#ft-log textarea');"
                           " return t && t.scrollTop + t.clientHeight >= t.scrollHeight - 2; }")
