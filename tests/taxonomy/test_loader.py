"""Loading taxonomy files: the shipped ones, user additions, and every kind of malformed file."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from studio.settings import ASSETS_DIR
from studio.taxonomy import TaxonomyError, load_taxonomies

SHIPPED = ASSETS_DIR / "taxonomy"

GOOD = """\
key: demo
title: Demo
definition: A small taxonomy.
target_count: 10
children:
  - key: mod
    title: Module
    definition: A module.
    target_count: 10
    children:
      - key: leaf_a
        title: Leaf A
        definition: First leaf.
        target_count: 4
      - key: leaf_b
        title: Leaf B
        definition: Second leaf.
        target_count: 6
"""


def write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_error(folder: Path) -> TaxonomyError:
    with pytest.raises(TaxonomyError) as info:
        load_taxonomies(folder)
    return info.value


def test_shipped_taxonomies_load_with_paper_numbers():
    forest = load_taxonomies(SHIPPED)
    assert [r.id for r in forest.roots] == ["opengpt4o", "sharegpt4o", "unifiedvisual"]
    node = forest.get("opengpt4o/gen/spatial/relative_position")
    assert (node.title, node.target_count) == ("Relative Position", 2000)
    opengpt = forest.get("opengpt4o")
    assert opengpt.claimed_subtasks == 51 and opengpt.listed_subtasks == 51
    assert forest.get("opengpt4o/edit").listed_subtasks == 21
    assert len(forest.get("opengpt4o/gen").children) == 5 and len(forest.get("opengpt4o/edit").children) == 6
    # the paper's own inconsistencies are surfaced, not smoothed over
    assert forest.get("opengpt4o/gen/scientific").discrepancies() == [
        "target 10,000 but the listed children's targets sum to 10,200"
    ]
    assert "127,215" in forest.get("unifiedvisual").discrepancies()[0]
    share = forest.get("sharegpt4o")
    assert len(forest.get("sharegpt4o/t2i").children) == 6
    assert [len(c.children) for c in forest.get("sharegpt4o/edit").children] == [4, 3, 2, 2, 3]
    assert [c.key for c in forest.get("sharegpt4o/document").children] == [
        "slide", "paper", "document", "infographic_chart", "poster"]
    objects = forest.get("sharegpt4o/t2i/object").vocabulary
    assert len(objects) == 1000 and objects[1].startswith("goldfish")
    assert forest.get("unifiedvisual/mm_internet").built_from == "CoMM"
    assert sum(n.target_count for n in forest.get("unifiedvisual").leaves()) == 127215
    for node in forest:  # every shipped node says where in the paper it comes from
        assert node.source and node.definition, node.id
    assert share.file.name == "sharegpt4o.yaml"


def test_a_user_file_adds_a_subtask_under_an_existing_node(tmp_path):
    write(tmp_path, "demo.yaml", GOOD)
    write(tmp_path, "zz_extra.yaml", """\
        parent: demo/mod
        key: leaf_c
        title: Leaf C
        definition: Added by a user.
        target_count: 3
    """)
    forest = load_taxonomies(tmp_path)
    assert forest.get("demo/mod/leaf_c").parent is forest.get("demo/mod")
    assert forest.get("demo/mod").discrepancies() == ["target 10 but the listed children's targets sum to 13"]


def test_an_extension_may_extend_another_extension_whatever_the_file_order(tmp_path):
    write(tmp_path, "a_second.yaml", "parent: demo/mod/new\nkey: deeper\ntitle: D\ndefinition: d\n")
    write(tmp_path, "b_first.yaml", "parent: demo/mod\nkey: new\ntitle: N\ndefinition: n\n")
    write(tmp_path, "demo.yaml", GOOD)
    assert "demo/mod/new/deeper" in load_taxonomies(tmp_path)


def test_reload_picks_up_edits_and_keeps_content_on_error(tmp_path):
    path = write(tmp_path, "demo.yaml", GOOD)
    forest = load_taxonomies(tmp_path)
    path.write_text(GOOD.replace("title: Leaf A", "title: Leaf Alpha"), encoding="utf-8")
    assert forest.reload().get("demo/mod/leaf_a").title == "Leaf Alpha"
    path.write_text("key: [", encoding="utf-8")
    with pytest.raises(TaxonomyError):
        forest.reload()
    assert forest.get("demo/mod/leaf_a").title == "Leaf Alpha"


@pytest.mark.parametrize(
    ("text", "path", "message", "line"),
    [
        (GOOD.replace("target_count: 6", "target_count: -6"),
         "children[0].children[1].target_count", "must not be negative, got -6", 18),
        (GOOD.replace("target_count: 4", "target_count: 4k"),
         "children[0].children[0].target_count", "wrong type: expected a whole number, got '4k'", 14),
        (GOOD.replace("target_count: 4", "target_count: true"),
         "children[0].children[0].target_count", "wrong type: expected a whole number, got True", 14),
        (GOOD.replace("        definition: Second leaf.\n", ""),
         "children[0].children[1].definition", "required field is missing", 15),
        (GOOD.replace("title: Module", "title: [1, 2]"),
         "children[0].title", "wrong type: expected text, got [1, 2]", 7),
        (GOOD.replace("definition: A module.", "defintion: A module."),
         "children[0].defintion", "unknown field 'defintion' (did you mean 'definition'?)", 8),
        (GOOD.replace("key: leaf_b", "key: leaf_a"),
         "children[0].children[1].key", "duplicate id 'demo/mod/leaf_a' (already defined at children[0].children[0] of demo.yaml)", None),
        (GOOD.replace("key: leaf_b", "key: Leaf B"),
         "children[0].children[1].key", "'Leaf B' is not a valid key", 15),
        (GOOD.replace("definition: First leaf.", "definition: '   '"),
         "children[0].children[0].definition", "must not be blank", 13),
        (GOOD.replace("children:\n      - key: leaf_a", "children:\n      - just a string\n      - key: leaf_a"),
         "children[0].children[0]", "wrong type: expected a mapping of fields, got 'just a string'", 11),
        (GOOD.replace("target_count: 10\nchildren", "target_count: 10\ntitle: Again\nchildren"),
         "", "found duplicate key 'title'", 5),
        (GOOD.replace("    title: Module", "    title: Module\n   bad: indent"),
         "", "bad YAML", 8),
        ("", "", "the file is empty", None),
        ("- a\n- b\n", "", "expected a mapping of fields at the top, got a list", None),
        (GOOD.replace("key: demo", "key: demo\nvocabulary_file: missing.txt"),
         "vocabulary_file", "cannot read 'missing.txt'", None),
        (GOOD.replace("key: demo", "key: demo\ndefinition_source: book"),
         "definition_source", "expected 'paper' or 'studio', got 'book'", 2),
    ],
    ids=["negative-count", "count-not-a-number", "count-bool", "missing-field", "title-wrong-type",
         "unknown-field", "duplicate-id", "bad-key", "blank-definition", "child-not-mapping",
         "duplicate-yaml-key", "bad-yaml", "empty-file", "top-level-list", "missing-vocabulary",
         "bad-literal"],
)
def test_malformed_file_error_names_file_path_and_problem(tmp_path, text, path, message, line):
    write(tmp_path, "demo.yaml", text)
    issues = load_error(tmp_path).issues
    assert len(issues) >= 1
    issue = next(i for i in issues if message in i.message)
    assert issue.file == tmp_path / "demo.yaml"
    assert issue.path == path
    if line is not None:
        assert issue.line == line
    assert str(issue).startswith(f"{tmp_path / 'demo.yaml'}: {path or '(top level)'}")


def test_all_problems_of_a_load_are_reported_together(tmp_path):
    write(tmp_path, "demo.yaml", GOOD.replace("target_count: 4", "target_count: -4").replace("title: Leaf B", "title: 5"))
    write(tmp_path, "other.yaml", "key: [")
    err = load_error(tmp_path)
    assert len(err.issues) == 3
    text = str(err)
    assert "demo.yaml: children[0].children[0].target_count" in text and "other.yaml" in text


def test_unknown_parent(tmp_path):
    write(tmp_path, "demo.yaml", GOOD)
    write(tmp_path, "extra.yaml", "key: x\ntitle: X\ndefinition: x\nparent: demo/nope\n")
    [issue] = load_error(tmp_path).issues
    assert (issue.file.name, issue.path, issue.line) == ("extra.yaml", "parent", 4)
    assert "unknown parent 'demo/nope'" in issue.message and "taxonomies: demo" in issue.message


def test_duplicate_taxonomy_across_files_and_duplicate_extension(tmp_path):
    write(tmp_path, "a.yaml", GOOD)
    write(tmp_path, "b.yaml", GOOD)
    write(tmp_path, "c.yaml", "parent: demo/mod\nkey: leaf_a\ntitle: A\ndefinition: again\n")
    issues = load_error(tmp_path).issues
    assert [(i.file.name, i.path) for i in issues] == [("b.yaml", "key"), ("c.yaml", "key")]
    assert "taxonomy already defined in a.yaml" in issues[0].message
    assert "duplicate id 'demo/mod/leaf_a'" in issues[1].message


def test_not_utf8_missing_folder_and_empty_folder(tmp_path):
    write(tmp_path, "demo.yaml", b"key: \xff\xfe\n")
    assert "not UTF-8 text" in load_error(tmp_path).issues[0].message
    assert "no such file or folder" in load_error(tmp_path / "nowhere").issues[0].message
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no taxonomy files" in load_error(empty).issues[0].message


def test_single_file_path_and_vocabulary_file(tmp_path):
    write(tmp_path, "words.txt", "# comment\nn01\tgoldfish, Carassius auratus\nplain entry\n\n")
    path = write(tmp_path, "demo.yaml", GOOD.replace("key: demo", "key: demo\nvocabulary_file: words.txt"))
    forest = load_taxonomies(path)
    assert forest.get("demo").vocabulary == ("goldfish, Carassius auratus", "plain entry")
    assert forest.search("carassius")[0].id == "demo"
