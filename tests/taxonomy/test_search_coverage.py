"""Search over the shipped taxonomies and coverage computed from samples stored in the database."""
from __future__ import annotations

import pytest

from studio.settings import ASSETS_DIR
from studio.taxonomy import compute_coverage, load_taxonomies, module_coverage
from studio.taxonomy.coverage import coverage_from_store


@pytest.fixture(scope="module")
def forest():
    return load_taxonomies(ASSETS_DIR / "taxonomy")


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("relative position", "opengpt4o/gen/spatial/relative_position"),
        ("RELATIVE_POSITION", "opengpt4o/gen/spatial/relative_position"),
        ("opengpt4o/gen/spatial", "opengpt4o/gen/spatial"),
        ("physics", "opengpt4o/gen/scientific/physics"),
        ("MM Reasoning (T)", "unifiedvisual/mm_reasoning/t"),
        ("goldfish", "sharegpt4o/t2i/object"),
        ("planar relation", "opengpt4o/gen/spatial/relative_position"),  # definition text
        ("ukiyo-e", "opengpt4o/gen/style/artistic_traditions"),  # an example
    ],
)
def test_search_finds_by_title_id_definition_examples_and_vocabulary(forest, query, first):
    assert forest.search(query)[0].id == first


def test_search_ranks_title_matches_before_definition_matches_and_limits(forest):
    hits = [n.id for n in forest.search("style")]
    assert hits[0] == "opengpt4o/gen/style"
    assert hits.index("opengpt4o/edit/global/style_transfer") < hits.index("opengpt4o/gen/style/artistic_traditions")
    assert len(forest.search("style", limit=3)) == 3
    assert forest.search("   ") == [] and forest.search("no such thing anywhere") == []


def test_lookup_flatten_and_ancestors(forest):
    node = forest.get("opengpt4o/gen/spatial/relative_position")
    assert [a.id for a in node.ancestors()] == ["opengpt4o", "opengpt4o/gen", "opengpt4o/gen/spatial"]
    assert forest.find("/opengpt4o/gen/") is forest.get("opengpt4o/gen")
    with pytest.raises(KeyError, match="no taxonomy node 'opengpt4o/nope'"):
        forest.get("opengpt4o/nope")
    flat = forest.flatten("opengpt4o/gen/spatial")
    assert [n.key for n in flat][:3] == ["spatial", "containment", "relative_position"]
    assert len(forest.flatten()) == len(forest) == len(set(forest.ids()))


def test_coverage_rolls_up_real_samples_and_reports_unknown_ids(studio, forest):
    store = studio.samples
    for _ in range(3):
        store.add(task="text-to-image", prompt="a cat left of a dog", taxonomy_id="opengpt4o/gen/spatial/relative_position")
    store.add(task="text-to-image", prompt="three apples", taxonomy_id="opengpt4o/gen/spatial/object_counting")
    store.add(task="text-to-image", prompt="tagged on the module", taxonomy_id="opengpt4o/gen/spatial")
    store.add(task="edit", prompt="remove the cup", taxonomy_id="opengpt4o/edit/subject/remove", dataset="other")
    store.add(task="text-to-image", prompt="typo", taxonomy_id="opengpt4o/gen/spatial/relative_postion")
    store.add(task="text-to-image", prompt="untagged")

    cov, unknown = coverage_from_store(forest, store)
    rel = cov["opengpt4o/gen/spatial/relative_position"]
    assert (rel.samples, rel.own, rel.target) == (3, 3, 2000)
    assert rel.summary() == "3 of 2,000 (0.1%)" and rel.remaining == 1997
    spatial = cov["opengpt4o/gen/spatial"]
    # 3 + 1 below it, 1 on the module itself, and the typo'd id still lies under its path
    assert (spatial.samples, spatial.own) == (6, 1)
    assert cov["opengpt4o"].samples == 7 and cov["opengpt4o/edit"].samples == 1
    assert unknown == {"opengpt4o/gen/spatial/relative_postion": 1}

    rows = module_coverage(forest, "opengpt4o/gen/spatial", cov)
    assert [r.node_id.rsplit("/", 1)[1] for r in rows] == [
        "containment", "relative_position", "comparative_reasoning", "symmetry", "size_reasoning", "object_counting"]
    assert [r.samples for r in rows] == [0, 3, 0, 0, 0, 1]
    assert module_coverage(forest, "opengpt4o/gen/spatial/relative_position", cov) == [rel]

    # later samples (another tab writing) show up on the next computation
    store.add(task="text-to-image", prompt="a bird above a tree", taxonomy_id="opengpt4o/gen/spatial/relative_position")
    assert coverage_from_store(forest, store)[0]["opengpt4o/gen/spatial/relative_position"].samples == 4
    only_other, _ = coverage_from_store(forest, store, dataset="other")
    assert only_other["opengpt4o"].samples == 1 and only_other["opengpt4o/gen"].samples == 0


def test_coverage_without_target_and_zero_target(forest):
    cov = compute_coverage(forest, {"sharegpt4o/document/slide": 2})
    assert cov["sharegpt4o/document"].summary() == "2 (no paper target)"
    assert cov["sharegpt4o/document"].ratio is None
