"""The Fine-tune tab in a real browser: launch a tiny run, watch its step and curve move, stop it."""
from __future__ import annotations

import shutil

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _status(page) -> str:
    return page.locator("#ft-status").inner_text()


def test_launch_watch_and_stop_a_run(live_app, page, tiny_pipeline, t2i_file):
    url, studio = live_app
    page.goto(url + "/?__theme=light")
    page.get_by_role("tab", name="Fine-tune").click()
    base = page.locator("#ft-base-model input")
    base.fill(str(tiny_pipeline))
    base.press("Enter")
    page.get_by_label("Released-format JSON file").check()
    dataset = page.locator("#ft-dataset-name input")
    readable = shutil.copytree(t2i_file.parent, studio.settings.data_dir / "t2i")  # inside the data folder
    dataset.fill(str(readable / t2i_file.name))
    dataset.press("Enter")
    page.get_by_text("Hyperparameters").click()
    for elem, value in (("ft-resolution", "16"), ("ft-max-steps", "100000"), ("ft-batch-size", "1"),
                        ("ft-checkpointing-steps", "100000")):
        field = page.locator(f"#{elem} input")
        field.fill(value)
        field.press("Tab")
    page.locator("#ft-run-name input, #ft-run-name textarea").fill("browser-run")
    page.locator("#ft-launch").click()
    page.wait_for_function("() => document.querySelector('#ft-report')?.innerText.includes('Launched')")
    assert "-m finetune.train" in page.locator("#ft-command textarea").input_value()

    # the status panel (read from the tracker every 2 s) shows the run training, then its step moving
    page.wait_for_function(
        "() => /`?running`?[\\s\\S]*step [1-9]/.test(document.querySelector('#ft-status')?.innerText || '')",
        timeout=150_000)
    first = int(_status(page).split("step ")[1].split()[0])
    page.wait_for_function(
        "(s) => { const m = (document.querySelector('#ft-status')?.innerText || '').match(/step (\\d+)/);"
        " return m && Number(m[1]) > s; }", arg=first, timeout=120_000)
    # the loss curve has drawn (vega renders the line into the plot element)
    page.wait_for_function(
        "() => !!document.querySelector('#ft-curve canvas, #ft-curve svg path, #ft-curve .vega-embed')")
    # with its line: the legend names the series only when the line is drawn (a plot first sent an empty
    # table used to keep empty axes)
    expect(page.locator("#ft-curve")).to_contain_text("browser-run loss", timeout=30_000)
    assert "browser-run" in page.locator("#ft-runs").inner_text()

    page.locator("#ft-stop").click()
    page.wait_for_function("() => (document.querySelector('#ft-status')?.innerText || '').includes('stopped')",
                           timeout=120_000)
    from finetune.tracker import RunTracker

    runs = RunTracker(studio.db).list_runs()
    assert [r.status for r in runs] == ["stopped"]
    assert runs[0].step > first
    assert RunTracker(studio.db).checkpoints(runs[0].id)[-1][0] == runs[0].step
