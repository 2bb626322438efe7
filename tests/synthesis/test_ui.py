"""The Synthesis tab through gradio_client (handlers) and once in a real browser."""
from __future__ import annotations

import re
import time

import pytest

NODE = "opengpt4o/gen/spatial/object_counting"


def _wait_done(client, batch_id, timeout=90):
    deadline = time.monotonic() + timeout
    md = ""
    while time.monotonic() < deadline:
        md, _failures = client.predict(batch_id, api_name="/synthesis_status")
        if "done —" in md or "cancelled —" in md:
            return md
        time.sleep(0.5)
    raise AssertionError(f"batch did not finish: {md}")


@pytest.mark.slow
def test_preview_batch_and_coverage_through_the_api(live_app):
    from gradio_client import Client

    url, studio = live_app
    client = Client(url, verbose=False)
    args = [[NODE, "sharegpt4o/t2i/object"], 6, 3, "template", "balanced", 0.5, "minhash", 0.9, False, True]
    table, dropped, meta, note = client.predict(*args, "ui-test", api_name="/synthesis_preview")
    again = client.predict(*args, "ui-test", api_name="/synthesis_preview")
    assert table["data"] == again[0]["data"]  # same seed, same rows
    assert len(table["data"]) == 6 and "6 rows" in note
    nodes = {row[2] for row in table["data"]}
    assert nodes == {NODE, "sharegpt4o/t2i/object"}
    assert all(row[4] and "score" in row[4] for row in table["data"])  # difficulty with its reason
    refused, _, _, why = client.predict(["sharegpt4o/t2i/object"], 2, 1, "attributes", "natural", -1, "off", 0.9,
                                        False, True, "", api_name="/synthesis_preview")
    assert refused["data"] == [] and "Nothing planned" in why and "λ must be greater than 0" in why
    with pytest.raises(Exception, match="no chat backend"):
        client.predict([NODE], 2, 1, "llm", "balanced", 0.5, "off", 0.9, False, True, "procedural", "(none)", "ui",
                       1, None, api_name="/synthesis_run")
    batch, progress = client.predict(*args, "procedural", "(none)", "ui-test", 2, None, api_name="/synthesis_run")
    batch_id = batch["value"] if isinstance(batch, dict) else batch
    md = _wait_done(client, batch_id)
    assert "6/6 done" in md
    # looking is built in: the batch's images with their prompts, and the picker says where it stands now
    note, gallery, picker = client.predict(batch_id, api_name="/synthesis_gallery")
    assert note["value"] == "6 image(s) made." and len(gallery["value"]) == 6
    assert all(g["caption"].startswith("#") for g in gallery["value"])
    labels = {value: label for label, value in picker["choices"]}
    assert labels[batch_id].endswith("· done · 6/6")
    plot, cov, note = client.predict("ui-test", api_name="/synthesis_coverage")
    assert note == "" and cov["visible"] is True
    rows = {r[0]: r for r in cov["value"]["data"]}
    assert rows[NODE][1] == 3 and rows["sharegpt4o/t2i/object"][1] == 3
    # the same request again into the same dataset: the preview now skips what the dataset holds
    table2, dropped2, _meta, note2 = client.predict(*args, "ui-test", api_name="/synthesis_preview")
    first = {row[1] for row in table["data"]}
    assert first.isdisjoint(row[1] for row in table2["data"])
    assert any("already in dataset 'ui-test'" in row[2] for row in dropped2["data"])
    table3, *_ = client.predict(*args[:-1], False, "ui-test", api_name="/synthesis_preview")
    assert table3["data"] == table["data"]  # unticked: duplicates of the dataset allowed


@pytest.mark.browser
@pytest.mark.slow
def test_synthesis_tab_in_a_browser(live_app, page):
    from playwright.sync_api import expect

    url, studio = live_app
    page.goto(url)
    page.get_by_role("tab", name="Synthesis").click()
    nodes = page.locator("#synth-nodes input")
    nodes.click()
    nodes.fill("object_counting")
    page.get_by_role("option", name=NODE).click()
    page.keyboard.press("Escape")
    page.locator("#synth-preview").click()
    table = page.locator("#synth-table")
    expect(table).to_contain_text(NODE, timeout=60_000)
    expect(table).to_contain_text("score")
    page.locator("#synth-dataset textarea, #synth-dataset input").first.fill("browser")
    page.locator("#synth-run").click()
    page.locator("#synth-progress").get_by_text("done —").wait_for(timeout=60_000)
    expect(page.locator("#synth-gallery img")).to_have_count(8, timeout=30_000)
    expect(page.locator("#synth-batch input")).to_have_value(re.compile(r"· done · 8/8$"))
    page.get_by_label("Dataset (empty: all)").first.fill("browser")
    page.locator("#synth-coverage-btn").click()
    cov = page.locator("#synth-coverage")
    expect(cov).to_contain_text(NODE, timeout=30_000)
    expect(cov).to_contain_text("8 of 1,000")


def test_coverage_of_an_empty_dataset_says_how_to_fill_it_instead_of_an_empty_chart(live_app):
    from gradio_client import Client

    url, _ = live_app
    plot, cov, note = Client(url, verbose=False).predict("nothing-here-yet", api_name="/synthesis_coverage")
    assert plot["visible"] is False and "run a synthesis batch" in note
    assert cov["value"]["headers"][0] == "node"  # the targets, under named columns


SIZED_BACKENDS = """
backends:
  procedural:
    engine: procedural
  tiny:
    engine: procedural
    label: a backend that declares a tiny size of its own
    defaults: {width: 24, height: 16, steps: 3}
"""


@pytest.fixture
def sized_app(tmp_path):
    from tests.support.live_app import launched_app

    config = tmp_path / "backends.yaml"
    config.write_text(SIZED_BACKENDS)
    with launched_app(tmp_path / "data", backends_config=str(config)) as served:
        yield served


def _image_sizes(studio, batch_id):
    from PIL import Image

    from studio.synthesis.batch_queries import batch_gallery

    sizes = []
    for item in batch_gallery(studio, batch_id):
        with Image.open(item["image"]) as img:
            sizes.append(img.size)
    return sizes


@pytest.mark.slow
def test_size_fields_follow_the_image_backend_and_the_batch_renders_at_the_chosen_size(sized_app):
    from gradio_client import Client

    url, studio = sized_app
    client = Client(url, verbose=False)
    assert tuple(client.predict("tiny", api_name="/synthesis_backend_defaults")) == (24, 16, 3)
    assert tuple(client.predict("procedural", api_name="/synthesis_backend_defaults")) == (512, 512, 0)
    args = [[NODE], 2, 5, "template", "balanced", 0.5, "off", 0.9, False, False]
    for backend, width, height, steps in (("tiny", 24, 16, 3), ("procedural", 8, 12, 0)):
        batch, _ = client.predict(*args, backend, "(none)", f"sized-{backend}", 2, None, width, height, steps,
                                  api_name="/synthesis_run")
        batch_id = batch["value"] if isinstance(batch, dict) else batch
        assert "2/2 done" in _wait_done(client, batch_id)
        assert _image_sizes(studio, batch_id) == [(width, height)] * 2
    with pytest.raises(Exception, match="less than minimum value 8"):  # the field says so before the batch check
        client.predict(*args, "procedural", "(none)", "sized", 2, None, 4, 4, 0, api_name="/synthesis_run")


@pytest.mark.browser
@pytest.mark.slow
def test_choosing_another_image_backend_refills_the_size_fields_in_a_browser(sized_app, page):
    from playwright.sync_api import expect

    url, _ = sized_app
    page.goto(url)
    page.get_by_role("tab", name="Synthesis").click()
    width, height, steps = (page.locator(f"#synth-{f} input") for f in ("width", "height", "steps"))
    expect(width).to_have_value("512")
    expect(height).to_have_value("512")
    expect(steps).to_have_value("0")
    page.locator("#synth-images input").click()
    page.get_by_role("option", name="tiny", exact=True).click()
    expect(width).to_have_value("24")
    expect(height).to_have_value("16")
    expect(steps).to_have_value("3")
