import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import inspect, text

from studio.db import Database
from studio.db.base import all_tables
from studio.images import ImageStore
from studio.samples import SampleStore, rollup_counts

ROOT = Path(__file__).resolve().parents[2]


def test_migrations_create_shared_tables(db_url):
    db = Database(db_url)
    try:
        names = set(inspect(db.engine).get_table_names())
        assert {"images", "samples", "alembic_version"} <= names
        Database(db_url).dispose()  # a second start-up is a no-op
    finally:
        db.dispose()


def test_start_up_check_finds_the_heads_alembic_finds():
    from alembic.script import ScriptDirectory

    from studio.db.engine import alembic_config
    from studio.db.migrate import script_heads

    assert script_heads() == set(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


def test_a_database_behind_a_migration_is_brought_up_to_date_on_start(db_url):
    """A database that a previous version left one migration behind gets the migration when opened."""
    from alembic import command

    from studio.db.engine import alembic_config

    db = Database(db_url)
    try:
        with db.engine.begin() as conn:
            cfg = alembic_config(db_url)
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "annotation_0003")
        assert "annotation_retractions" not in inspect(db.engine).get_table_names()
    finally:
        db.dispose()
    db = Database(db_url)
    try:
        assert "annotation_retractions" in inspect(db.engine).get_table_names()
        with db.engine.connect() as c:
            assert "annotation_0004" in set(c.execute(text("SELECT version_num FROM alembic_version")).scalars())
    finally:
        db.dispose()


def test_models_match_migrations(db_url):
    """Every table a model declares is created by the migrations, with the same columns."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    db = Database(db_url)
    try:
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), all_tables())
        # ignore differences alembic reports only as type-affinity noise on SQLite
        serious = [d for d in diff if not (isinstance(d, list) and d and d[0][0] == "modify_type")]
        assert serious == [], f"models and migrations disagree: {serious}"
    finally:
        db.dispose()


def test_sqlite_pragmas(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 's.db'}")
    with db.engine.connect() as c:
        assert c.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert c.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert c.execute(text("PRAGMA busy_timeout")).scalar() == 30000
    db.dispose()


def test_samples_and_coverage(db_url, tmp_path):
    db = Database(db_url)
    store = SampleStore(db, ImageStore(tmp_path / "img"))
    sha = store.store_image(Image.new("RGB", (8, 8), "red"))
    store.store_image(Image.new("RGB", (8, 8), "red"))  # same bytes stored once
    for tid in ["t/gen/a/x", "t/gen/a/x", "t/gen/a/y", "t/edit/b"]:
        store.add(task="text-to-image", prompt="p", taxonomy_id=tid, output_image=sha, attributes={"k": [1, 2]})
    counts = store.count_by_taxonomy()
    assert counts == {"t/gen/a/x": 2, "t/gen/a/y": 1, "t/edit/b": 1}
    assert rollup_counts(counts, ["t", "t/gen", "t/gen/a", "t/gen/a/x", "t/edit", "t/other"]) == {
        "t": 4, "t/gen": 3, "t/gen/a": 3, "t/gen/a/x": 2, "t/edit": 1, "t/other": 0,
    }
    with pytest.raises(ValueError, match="unknown task"):
        store.add(task="painting", prompt="p")
    db.dispose()


def test_add_many_checks_every_sample_first_and_can_join_a_transaction(db_url, tmp_path):
    db = Database(db_url)
    store = SampleStore(db, ImageStore(tmp_path / "img"))
    with pytest.raises(ValueError, match="unknown task"):
        store.add_many([{"task": "edit", "prompt": "ok"}, {"task": "painting", "prompt": "p"}])
    assert store.datasets() == []  # nothing of the refused group was stored
    with pytest.raises(RuntimeError):
        with db.engine.begin() as conn:
            store.add_many([{"task": "edit", "prompt": "a", "dataset": "d"}], conn=conn)
            raise RuntimeError("the caller's transaction fails")
    assert store.datasets() == []  # rolled back with the caller's transaction
    ids = store.add_many([{"task": "edit", "prompt": "a", "dataset": "d"},
                          {"task": "reasoning", "prompt": "b", "dataset": "d", "seed": 3}])
    assert [store.get(i).prompt for i in ids] == ["a", "b"] and store.get(ids[1]).seed == 3
    db.dispose()


RACE = """
import sys
from studio.db import Database
Database(sys.argv[1]).dispose()
print("ok")
"""


def test_concurrent_startups_do_not_race_on_migrations(db_url):
    procs = [
        subprocess.Popen([sys.executable, "-c", RACE, db_url], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-2000:]
        assert out.strip() == "ok"
    db = Database(db_url)
    with db.engine.connect() as c:
        assert len(c.execute(text("SELECT version_num FROM alembic_version")).all()) >= 1
    db.dispose()
