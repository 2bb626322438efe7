"""Batches and items: creation, validation, idempotent keys, both databases, migrations = models."""
from __future__ import annotations

import pytest

from studio.annotation import AnnotationError, service
from tests.annotation.helpers import make_batch, stored_image


def _studio_for(url, tmp_path):
    from studio.core import Studio
    from studio.settings import load_settings

    return Studio(load_settings(data_dir=tmp_path / "d", database_url=url))


def test_create_batch_and_add_items_on_both_databases(db_url, tmp_path):
    studio = _studio_for(db_url, tmp_path)
    try:
        batch_id, items = make_batch(studio, "first", 3, overlap=2, criteria=("overall", "visual_quality"))
        info = service.get_batch(studio, "first")
        assert info.id == batch_id and info.items == 3 and info.overlap == 2
        assert info.criteria == ["overall", "visual_quality"] and info.target_votes == 6
        with pytest.raises(AnnotationError, match="already exists"):
            service.create_batch(studio, "first")
        assert service.ensure_batch(studio, "first") == batch_id
        rows = service.batch_items(studio, batch_id)
        assert [r["position"] for r in rows] == [1, 2, 3]
        assert rows[0]["model_a"] == "model-alpha-zq"
    finally:
        studio.close()


def test_add_comparison_validates_inputs(studio):
    batch_id = service.create_batch(studio, "v")
    a, b = stored_image(studio, 1), stored_image(studio, 2)
    ok = dict(prompt="p", task="text-to-image", output_a=a, model_a="m1", output_b=b, model_b="m2")
    with pytest.raises(AnnotationError, match="task must be"):
        service.add_comparison(studio, batch_id, **{**ok, "task": "video"})
    with pytest.raises(AnnotationError, match="source image"):
        service.add_comparison(studio, batch_id, **{**ok, "task": "edit"})
    with pytest.raises(AnnotationError, match="not in the image store"):
        service.add_comparison(studio, batch_id, **{**ok, "output_b": "0" * 64})
    with pytest.raises(AnnotationError, match="SHA-256"):
        service.add_comparison(studio, batch_id, **{**ok, "output_a": "nope"})
    with pytest.raises(AnnotationError, match="model name"):
        service.add_comparison(studio, batch_id, **{**ok, "model_b": " "})
    with pytest.raises(AnnotationError, match="no comparison batch"):
        service.add_comparison(studio, "missing", **ok)
    assert service.get_batch(studio, batch_id).items == 0


def test_item_key_makes_adding_idempotent(studio):
    batch_id = service.create_batch(studio, "k")
    a, b, src = stored_image(studio, 1), stored_image(studio, 2), stored_image(studio, 3)
    kw = dict(prompt="make it red", task="edit", source_image=src, output_a=a, model_a="m1",
              output_b=b, model_b="m2", item_key="row-1", provenance={"tab": "edit"})
    first = service.add_comparison(studio, "k", **kw)
    assert service.add_comparison(studio, batch_id, **kw) == first
    assert service.get_batch(studio, batch_id).items == 1


def test_image_file_without_row_is_recorded(studio):
    from PIL import Image

    f = studio.images.put(Image.new("RGB", (8, 8), (1, 2, 3)))  # file only, no images row
    batch_id = service.create_batch(studio, "rows")
    service.add_comparison(studio, batch_id, prompt="p", task="text-to-image", output_a=f.sha256,
                           model_a="x", output_b=stored_image(studio, 5), model_b="y")
    assert service.get_batch(studio, batch_id).items == 1


def test_settings_validation_and_update(studio):
    with pytest.raises(AnnotationError, match="overlap"):
        service.create_batch(studio, "o", overlap=0)
    with pytest.raises(AnnotationError, match="criterion"):
        service.create_batch(studio, "c", criteria=["Bad!"])
    service.create_batch(studio, "u", criteria="overall, instruction fidelity")
    info = service.update_batch(studio, "u", overlap=3, guidelines="be fair", status="closed")
    assert (info.overlap, info.guidelines, info.status) == (3, "be fair", "closed")
    assert info.criteria == ["overall", "instruction_fidelity"]


def test_annotation_models_match_migrations(tmp_path):
    """The hand-written migration creates exactly the tables the models describe."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from studio.db import Database
    from studio.db.base import all_tables

    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = [d for d in compare_metadata(ctx, all_tables()) if "annotation_" in repr(d)]
    db.dispose()
    assert diffs == []
