"""Prepared statements on a plain DBAPI cursor store and read exactly what SQLAlchemy does."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import bindparam, insert, select, update

from studio.annotation.models import ComparisonBatch, PairwiseVote
from studio.db.prepared import CoreExecutor, Prepared, RawExecutor

_V = PairwiseVote.__table__
_B = ComparisonBatch.__table__


def _raw(studio) -> RawExecutor:
    proxied = studio.db.engine.raw_connection()
    proxied.detach()
    return RawExecutor(proxied.dbapi_connection, studio.db.engine.dialect)


def _vote(vid: str, when: datetime, batch_id: str, item_id: str) -> dict:
    return {"id": vid, "item_id": item_id, "batch_id": batch_id, "assignment_id": "as-1", "annotator": vid,
            "shown_choice": "left", "a_on_left": False, "winner": "model_b",
            "criteria": {"overall": "model_b", "visual_quality": "tie"}, "latency_ms": 1234, "created_at": when}


def test_raw_and_core_write_and_read_the_same_values(studio):
    from tests.annotation.helpers import make_batch

    batch_id, items = make_batch(studio, "prepared", 1)
    raw = _raw(studio)
    when = datetime(2026, 11, 23, 4, 5, 6, 789000, tzinfo=timezone.utc)
    raw.rowcount(insert(_V), _vote("by-raw", when, batch_id, items[0]))
    raw.connection.commit()
    with studio.db.engine.begin() as conn:
        CoreExecutor(conn).rowcount(insert(_V), _vote("by-core", when, batch_id, items[0]))
    stmt = select(_V).where(_V.c.id == bindparam("vid"))
    with studio.db.engine.connect() as conn:
        core = {vid: CoreExecutor(conn).first(stmt, {"vid": vid}) for vid in ("by-raw", "by-core")}
    mine = {vid: raw.first(stmt, {"vid": vid}) for vid in ("by-raw", "by-core")}
    for vid in ("by-raw", "by-core"):
        assert tuple(mine[vid]) == tuple(core[vid])
        assert mine[vid].criteria == {"overall": "model_b", "visual_quality": "tie"}
        assert mine[vid].a_on_left is False and mine[vid].latency_ms == 1234
        assert mine[vid].created_at.replace(tzinfo=timezone.utc) == when
    # literal values in a statement travel with it; rowcount reports matched rows
    n = raw.rowcount(update(_V).where(_V.c.id == bindparam("vid"), _V.c.winner == "model_b")
                     .values(winner=bindparam("w")), {"vid": "by-raw", "w": "tie"})
    assert n == 1 and raw.first(stmt, {"vid": "by-raw"}).winner == "tie"
    assert raw.first(stmt, {"vid": "nobody"}) is None
    raw.connection.close()


def test_every_inserted_column_must_be_given(studio):
    with pytest.raises(ValueError, match="missing"):
        Prepared(insert(_V), studio.db.engine.dialect, column_keys=["id", "item_id"])


def test_named_paramstyles_are_refused():
    from sqlalchemy.dialects.postgresql import psycopg

    with pytest.raises(ValueError, match="positional"):
        Prepared(select(_B).where(_B.c.id == bindparam("x")), psycopg.dialect())


def test_a_missing_parameter_is_an_error_not_a_null(studio):
    p = Prepared(update(_V).where(_V.c.id == bindparam("vid"), _V.c.winner == "tie").values(winner=bindparam("w")),
                 studio.db.engine.dialect)
    assert p.params({"vid": "x", "w": "model_a"}) == ("model_a", "x", "tie")
    with pytest.raises(Exception, match="w"):
        p.params({"vid": "x"})
