"""The Edit chat tab in a real browser: upload, three edits, undo, branch, reload, session intact."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from studio import editing
from tests.editing.conftest import picture

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _send(page, text: str, expect_in_tree: str) -> None:
    box = page.locator("#edit-message textarea")
    box.fill(text)
    box.press("Enter")
    expect(page.locator("#edit-tree")).to_contain_text(expect_in_tree, timeout=30_000)


HEAD_MARKER_BOX = """() => {
  const tree = document.querySelector('#edit-tree');
  const pre = tree.querySelector('pre');
  const walker = document.createTreeWalker(pre, NodeFilter.SHOW_TEXT);
  let node;
  while ((node = walker.nextNode()) && !node.data.includes('◀ head')) {}
  const range = document.createRange();
  const at = node.data.indexOf('◀ head');
  range.setStart(node, at);
  range.setEnd(node, at + 6);
  const m = range.getBoundingClientRect(), box = pre.getBoundingClientRect();
  return {inside: m.left >= box.left && m.right <= box.right && m.width > 0,
          scrolls: pre.scrollWidth > pre.clientWidth};
}"""


def _head_marker_fully_visible(page) -> bool:
    """The '◀ head' marker lies inside the tree's box and the tree does not hide lines beyond its edge."""
    found = page.evaluate(HEAD_MARKER_BOX)
    return found["inside"] and not found["scrolls"]


def test_upload_three_edits_undo_branch_reload(edit_app, page, data_dir, tmp_path):
    url, studio = edit_app
    src = tmp_path / "photo.png"
    picture(160, 120).save(src)
    page.goto(url)
    page.locator("#tab-edit-button, button[role=tab]:has-text('Edit chat')").first.click()
    page.locator("#edit-upload input[type=file]").set_input_files(str(src))
    page.locator("#edit-start-upload").click()
    expect(page.locator("#edit-tree")).to_contain_text("source image", timeout=30_000)
    expect(page.locator("#edit-chat")).to_contain_text("Source image (uploaded photo.png)")
    _send(page, "add a red box", "#1 add a red box")
    _send(page, "add a blue box", "#2 add a blue box")
    _send(page, "add a green box", "#3 add a green box [painter]  ◀ head")
    expect(page.locator("#edit-chat img")).to_have_count(4)
    page.locator("#edit-undo").click()
    expect(page.locator("#edit-tree")).to_contain_text("#2 add a blue box [painter]  ◀ head")
    assert _head_marker_fully_visible(page)
    _send(page, "add a yellow box", "#4 add a yellow box [painter]  ◀ head")  # a branch beside #3
    tree_before = page.locator("#edit-tree").inner_text()
    assert "○ #3 add a green box" in tree_before
    expect(page).to_have_url(re.compile(r"\?session=[0-9a-f]{32}"))
    page.screenshot(path=str(tmp_path / "edit-chat.png"))
    page.reload()
    page.locator("#tab-edit-button, button[role=tab]:has-text('Edit chat')").first.click()
    expect(page.locator("#edit-tree")).to_contain_text("#4 add a yellow box [painter]  ◀ head", timeout=30_000)
    assert page.locator("#edit-tree").inner_text() == tree_before
    expect(page.locator("#edit-chat")).to_contain_text("add a yellow box")
    expect(page.locator("#edit-chat img")).to_have_count(4)
    [summary] = editing.list_sessions(studio, page.locator("#edit-owner input, #edit-owner textarea")
                                      .first.input_value())
    assert summary.turns == 4
    # a long instruction deep in the tree, on a laptop screen: the head marker at its line's end stays in view
    page.set_viewport_size({"width": 1366, "height": 768})
    _send(page, "add a white box right below the yellow one, a little to the left", "add a white box right below")
    expect(page.locator("#edit-tree")).to_contain_text("[painter]  ◀ head")
    page.locator("#edit-tree").screenshot(path=str(tmp_path / "edit-tree.png"))
    assert _head_marker_fully_visible(page)
