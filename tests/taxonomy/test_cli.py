"""`python -m studio taxonomy`: text tree, JSON, subtree, coverage and malformed files."""
from __future__ import annotations

import json
import subprocess
import sys

from studio.cli import main
from studio.settings import REPO_ROOT


def test_text_tree_shows_ids_definitions_counts_and_discrepancies(capsys):
    assert main(["taxonomy"]) == 0
    out = capsys.readouterr().out
    assert "opengpt4o  OpenGPT-4o-Image  [target 80,000; claims 51 subtasks, lists 51]" in out
    assert "opengpt4o/gen/spatial/relative_position  Relative Position  [target 2,000]" in out
    assert "planar relation" in out
    assert "! target 10,000 but the listed children's targets sum to 10,200" in out
    assert "sharegpt4o/edit/creative_ideation/hybridization_mashups" in out
    assert "unifiedvisual/mm_internet  MM Internet  [target 29,399]" in out


def test_json_is_the_whole_tree(capsys):
    assert main(["taxonomy", "--json"]) == 0
    roots = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in roots] == ["opengpt4o", "sharegpt4o", "unifiedvisual"]

    def walk(n):
        yield n
        for c in n["children"]:
            yield from walk(c)

    nodes = {n["id"]: n for r in roots for n in walk(r)}
    rel = nodes["opengpt4o/gen/spatial/relative_position"]
    assert rel["target_count"] == 2000 and rel["definition"].startswith("Objects are placed")
    assert nodes["opengpt4o"]["claimed_subtasks"] == 51 and nodes["opengpt4o"]["listed_subtasks"] == 51
    assert len(nodes["sharegpt4o/t2i/object"]["vocabulary"]) == 1000
    assert "samples" not in rel


def test_subtree_and_coverage_from_the_database(capsys, monkeypatch, studio):
    studio.samples.add(task="edit", prompt="remove the cup", taxonomy_id="opengpt4o/edit/subject/remove")
    monkeypatch.setenv("STUDIO_DATA_DIR", str(studio.settings.data_dir))
    assert main(["taxonomy", "--node", "opengpt4o/edit/subject", "--coverage", "--json"]) == 0
    [node] = json.loads(capsys.readouterr().out)
    assert node["samples"] == 1
    assert {c["id"]: c["samples"] for c in node["children"]}["opengpt4o/edit/subject/remove"] == 1
    assert main(["taxonomy", "--node", "opengpt4o/nope"]) == 2
    assert "no taxonomy node 'opengpt4o/nope'" in capsys.readouterr().err


def test_malformed_file_exits_2_with_one_line_naming_file_and_path(tmp_path):
    (tmp_path / "mine.yaml").write_text("key: mine\ntitle: Mine\ndefinition: d\ntarget_count: -1\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "studio", "taxonomy", "--dir", str(tmp_path)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'mine.yaml'}: target_count (line 4): must not be negative, got -1"
    ]
