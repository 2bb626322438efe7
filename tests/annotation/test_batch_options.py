"""Options chosen when a batch is planned: criteria from the task (plus an admin's own), gold pairs
mixed in at a rate, active ordering; bad settings refused before anything is made."""
from __future__ import annotations

import pytest
from PIL import Image

from studio.annotation import AnnotationError, generation, service
from studio.annotation.results import studio_leaderboard
from tests.annotation.helpers import next_item, vote
from tests.support.fake_backends import BACKENDS_YAML

BACKENDS = ["model-alpha-zq", "model-beta-kx"]


@pytest.fixture
def gen_studio(tmp_path):
    from studio.core import Studio
    from studio.settings import load_settings

    config = tmp_path / "backends.yaml"
    config.write_text(BACKENDS_YAML + "  procedural:\n    engine: procedural\n")
    s = Studio(load_settings(data_dir=tmp_path / "data", backends_config=str(config)))
    yield s
    s.close()


def _prompts(n):
    return [{"prompt": f"a red cube number {k}"} for k in range(n)]


def test_criteria_come_from_the_task_and_admins_add_their_own(gen_studio):
    t2i = generation.plan_batch(gen_studio, "t2i", prompts=_prompts(2), backends=BACKENDS)
    assert service.get_batch(gen_studio, t2i).criteria == ["instruction_fidelity", "visual_clarity"]
    src = gen_studio.samples.store_image(Image.new("RGB", (16, 16), (9, 9, 9)))
    edit = generation.plan_batch(gen_studio, "edit", prompts=_prompts(1), backends=BACKENDS, task="edit",
                                 source_image=src, added_criteria="text rendering")
    assert service.get_batch(gen_studio, edit).criteria == ["instruction_following", "preservation", "quality",
                                                            "text_rendering"]
    chosen = generation.plan_batch(gen_studio, "chosen", prompts=_prompts(1), backends=BACKENDS, criteria=["overall"])
    assert service.get_batch(gen_studio, chosen).criteria == ["overall"]
    with pytest.raises(AnnotationError, match="add at most 1 more"):
        generation.plan_batch(gen_studio, "many", prompts=_prompts(1), backends=BACKENDS, task="edit",
                              source_image=src, added_criteria=["style", "text"])
    with pytest.raises(AnnotationError, match="lowercase letters"):
        generation.plan_batch(gen_studio, "bad", prompts=_prompts(1), backends=BACKENDS, added_criteria=["Sharp!"])
    assert {b.name for b in service.list_batches(gen_studio)} == {"t2i", "edit", "chosen"}


def test_each_default_criterion_gets_its_own_board(gen_studio):
    batch_id = generation.plan_batch(gen_studio, "boards", prompts=_prompts(3), backends=BACKENDS, overlap=2)
    generation.run_plan(gen_studio, batch_id)
    for who in ("ann", "bob"):
        view = next_item(gen_studio, batch_id, who)
        while view is not None:
            assert view.criteria == ["instruction_fidelity", "visual_clarity"]
            view = vote(gen_studio, view.assignment_id, who, "left", {"visual_clarity": "tie"}).item
    board = studio_leaderboard(gen_studio, batch_id, bootstrap=0)
    assert set(board["criteria"]) == {"instruction_fidelity", "visual_clarity"}
    assert board["criteria"]["visual_clarity"]["votes"] == board["criteria"]["instruction_fidelity"]["votes"] == 6


def test_gold_pairs_are_mixed_in_at_the_planned_rate_once(gen_studio):
    batch_id = generation.plan_batch(gen_studio, "gold", prompts=_prompts(8), backends=BACKENDS, gold_rate=0.2,
                                     width=48, height=40, active_order=True)
    info = service.get_batch(gen_studio, batch_id)
    assert info.config["generation"]["gold_rate"] == 0.2 and info.config["active_order"] is True
    result = generation.run_plan(gen_studio, batch_id)
    assert result["errors"] == []
    items = service.batch_items(gen_studio, batch_id)
    gold = [it for it in items if it["provenance"].get("gold")]
    assert len(items) == 10 and len(gold) == 2  # 2 of 10: the rate
    assert 0 < items.index(gold[0]) < items.index(gold[1]) < len(items) - 1  # spread through the batch
    generation.run_plan(gen_studio, batch_id)
    assert len(service.batch_items(gen_studio, batch_id)) == 10  # a rerun adds no more


def test_bad_gold_settings_are_refused_before_anything_is_made(gen_studio, tmp_path):
    for rate in (0.6, -0.1, "lots"):
        with pytest.raises(AnnotationError, match=r"from 0 \(none\) to 0.5"):
            generation.plan_batch(gen_studio, "g", prompts=_prompts(2), backends=BACKENDS, gold_rate=rate)
    src = gen_studio.samples.store_image(Image.new("RGB", (16, 16), (9, 9, 9)))
    with pytest.raises(AnnotationError, match="text-to-image batches only"):
        generation.plan_batch(gen_studio, "g", prompts=_prompts(1), backends=BACKENDS, task="edit",
                              source_image=src, gold_rate=0.1)
    with pytest.raises(AnnotationError, match="rendered by 'nope'"):
        generation.plan_batch(gen_studio, "g", prompts=_prompts(2), backends=BACKENDS, gold_rate=0.1,
                              gold_backend="nope")
    with pytest.raises(AnnotationError, match="either the criteria or"):
        generation.plan_batch(gen_studio, "g", prompts=_prompts(2), backends=BACKENDS, criteria=["overall"],
                              added_criteria=["style"])
    assert service.list_batches(gen_studio) == []


def test_an_import_with_gold_answers_is_checked_before_anything_is_stored(gen_studio, tmp_path):
    import json

    from studio.annotation import importer

    folder = tmp_path / "pairs"
    folder.mkdir()
    for k, colour in enumerate([(200, 0, 0), (0, 0, 200), (0, 200, 0)]):
        Image.new("RGB", (20, 20), colour).save(folder / f"{k}.png")
    row = {"prompt": "a red square", "output_a": "0.png", "model_a": "m1", "output_b": "1.png", "model_b": "m2"}
    manifest = folder / "pairs.jsonl"
    manifest.write_text("\n".join(json.dumps(r) for r in [{**row, "gold": "a"}, {**row, "gold": "b"}]))
    with pytest.raises(AnnotationError, match="different winners"):
        importer.import_manifest(gen_studio, "contradicting", manifest)
    manifest.write_text(json.dumps({**row, "gold": "left"}))
    with pytest.raises(AnnotationError, match="gold names the output that must win"):
        importer.import_manifest(gen_studio, "unclear", manifest)
    assert service.list_batches(gen_studio) == []
    manifest.write_text("\n".join(json.dumps(r) for r in [{**row, "gold": "a"}, {**row, "output_b": "2.png"}]))
    batch_id = importer.import_manifest(gen_studio, "with-gold", manifest)
    gold = [it["provenance"].get("gold") for it in service.batch_items(gen_studio, batch_id)]
    assert gold == ["model_a", None]
    assert service.get_batch(gen_studio, batch_id).criteria == ["instruction_fidelity", "visual_clarity"]
