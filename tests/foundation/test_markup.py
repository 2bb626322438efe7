"""Names and free text people supply reach Markdown components as text: no HTML, no Markdown images."""
from __future__ import annotations

import re

from studio.markup import md_code_block, md_text

HOSTILE = "<img src=x onerror=alert(1)> ![pixel](http://evil.example/p.png) [link](javascript:x) **bold**"


def _inert(markdown: str) -> None:
    assert "<img" not in markdown and "<script" not in markdown
    assert not re.search(r"!\[[^\]]*\]\(", markdown), markdown  # no Markdown image
    assert not re.search(r"(?<!\\)\[[^\]]*(?<!\\)\]\(", markdown), markdown  # no Markdown link


def test_md_text_keeps_the_characters_and_drops_the_markup():
    out = md_text(HOSTILE)
    _inert(out)
    assert "&lt;img src=x onerror=alert(1)&gt;" in out
    assert md_text("a_b * c") == "a\\_b \\* c"
    block = md_code_block("```\n<b>x</b>")
    assert block.count("```") == 2


def test_run_names_and_errors_in_the_run_status(studio):
    from finetune.summary import status_text
    from finetune.tracker import RunTracker

    tracker = RunTracker(studio.db)
    run_id = tracker.create_run(config={"name": HOSTILE, "task": "text-to-image", "method": "lora",
                                        "base_model": "x"}, output_dir="o", log_path="l", device="cpu")
    tracker.transition(run_id, "failed", "boom", error="```\n" + HOSTILE)
    text = status_text(tracker.get(run_id))
    _inert(text.split("```")[0])  # outside the code block
    assert text.count("```") == 2  # the error cannot close the block early


def test_dataset_report_rows_and_edit_chat_text(data_dir):
    from finetune.datasets import ValidationReport
    from studio import editing
    from studio.core import Studio
    from studio.settings import load_settings
    from studio.ui.edit_render import chat_messages, tree_markdown
    from tests.editing.conftest import picture, png_bytes, write_backends

    report = ValidationReport()
    report.total = 1
    report.add_error("row 0", "malformed row", HOSTILE)
    _inert(report.to_markdown())

    studio = Studio(load_settings(data_dir=data_dir, backends_config=write_backends(data_dir)))
    try:
        view, _ = editing.start_from_upload(studio, "ann", png_bytes(picture()), name=HOSTILE)
        out = editing.submit_turn(studio, "ann", view.id, HOSTILE + " ```", "painter", shown=None)
        texts = [part for msg in chat_messages(studio, out.session)
                 for part in (msg["content"] if isinstance(msg["content"], list) else [msg["content"]])
                 if isinstance(part, str)]
        assert any("onerror" in t for t in texts)  # the instruction is there, as text
        for t in texts:
            _inert(t)
        assert tree_markdown(out.session).count("```") == 2
    finally:
        studio.close()
