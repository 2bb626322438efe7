"""Runs as data: stored on SQLite and PostgreSQL, exported as UnifiedVisual-style samples, sent to annotation."""
from __future__ import annotations

import pytest

from studio.reasoning import ReasoningInputError
from studio.reasoning.examples import get_example
from studio.reasoning.store import RunStore
from tests.reasoning.conftest import write_backends_config
from tests.reasoning.helpers import request_for, run_all, script


@pytest.fixture
def db_studio(db_url, data_dir, tmp_path, stub):
    from studio.core import Studio
    from studio.settings import load_settings

    cfg = write_backends_config(tmp_path / "backends.yaml", stub.base_url)
    s = Studio(load_settings(data_dir=data_dir, database_url=db_url, backends_config=cfg))
    yield s
    s.close()


def test_export_as_unifiedvisual_sample(db_studio, stub):
    example = get_example("bare-trees-season")
    script(stub, example)
    state, _ = run_all(db_studio, request_for(example))
    store = RunStore(db_studio)
    sample_id, created = store.export_sample(state.run_id, dataset="uv-test")
    assert created and store.export_sample(state.run_id)[0] == sample_id  # exporting twice: same sample
    sample = db_studio.samples.get(sample_id)
    assert sample.task == "reasoning" and sample.prompt == example.question
    assert sample.input_images == [state.input_image] and sample.dataset == "uv-test"
    kinds = [t["type"] for t in sample.turns]
    assert kinds == ["text", "image", "text", "image", "text", "text"]
    images = [t for t in sample.turns if t["type"] == "image"]
    assert images[0]["description"].startswith("people walking") and len(images[0]["image"]) == 64
    assert sample.turns[-1] == {"type": "text", "text": "Final answer: fall"}
    assert sample.attributes["subset"] == "MMReasoning_MM" and sample.output_image == images[-1]["image"]
    assert store.recent()[0].id == state.run_id


def test_a_run_without_images_cannot_be_exported(db_studio, stub):
    stub.enqueue(text="I'm sorry, I can't help with that.")
    state, _ = run_all(db_studio, request_for(get_example("oak-leaf")))
    with pytest.raises(ReasoningInputError, match="no rendered image"):
        RunStore(db_studio).export_sample(state.run_id)


def test_two_runs_go_to_annotation_as_one_comparison(reason_studio, stub):
    example = get_example("nine-lives")
    script(stub, example)
    a, _ = run_all(reason_studio, request_for(example))
    script(stub, example)
    b, _ = run_all(reason_studio, request_for(example, seed=7))
    store = RunStore(reason_studio)
    item = store.send_to_annotation(a.run_id, b.run_id, "reasoning-pairs")
    assert store.send_to_annotation(a.run_id, b.run_id, "reasoning-pairs") == item  # idempotent
    from studio.annotation import service

    items = service.batch_items(reason_studio, "reasoning-pairs")
    assert len(items) == 1
    other = get_example("oak-leaf")
    script(stub, other)
    c, _ = run_all(reason_studio, request_for(other))
    with pytest.raises(ReasoningInputError, match="same mode and question"):
        store.send_to_annotation(a.run_id, c.run_id, "reasoning-pairs")
