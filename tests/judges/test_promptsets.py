"""Choosing an evaluation's prompt set from a form's values (no server)."""
from __future__ import annotations

import json

import pytest

from studio.judges import JudgeError
from studio.judges.promptsets import from_source


def test_each_source_gives_prompts_and_says_where_they_came_from(studio, tmp_path):
    prompts, src = from_source(studio, "geneval", count=6, seed=1)
    assert len(prompts) == 6 and src == {"geneval_templates": 6}
    prompts, src = from_source(studio, "nodes", count=3, nodes=" opengpt4o/gen/spatial/object_counting , ")
    assert len(prompts) == 3 and src == {"nodes": ["opengpt4o/gen/spatial/object_counting"], "count": 3}
    listed = tmp_path / "prompts.txt"
    listed.write_text("a red apple\na blue car\n")
    prompts, src = from_source(studio, "file", upload=str(listed))
    assert [p.prompt for p in prompts] == ["a red apple", "a blue car"] and src == {"file": "prompts.txt"}


@pytest.mark.parametrize("source,values,message", [
    ("nodes", {"nodes": " , "}, "Type one or more taxonomy node ids"),
    ("dataset", {"dataset": "  "}, "Type a dataset name"),
    ("file", {}, "Upload a GenEval metadata JSONL or a prompt list first"),
    ("elsewhere", {}, "unknown prompt source"),
])
def test_a_source_without_what_it_needs_says_what_to_supply(studio, source, values, message):
    with pytest.raises(JudgeError, match=message):
        from_source(studio, source, **values)


def test_a_prompt_list_with_source_images_is_sent_to_the_headless_runner(studio, tmp_path):
    listed = tmp_path / "edits.jsonl"
    listed.write_text(json.dumps({"instruction": "make it red", "source_image": "a.png"}) + "\n")
    with pytest.raises(JudgeError, match="run headless"):
        from_source(studio, "file", upload=str(listed))
