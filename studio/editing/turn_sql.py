"""The statements a chat turn runs, built once with bound parameters.

A turn is two short transactions (reserve, then record). Building the statements once and only
binding values per turn keeps SQLAlchemy's per-call work (coercions, cache keys) off the path
the user waits on; the SQL is the same on SQLite and PostgreSQL.
"""
from __future__ import annotations

from sqlalchemy import bindparam, insert, select, update

from studio.db.models import StoredImage
from studio.db.upsert import insert_ignoring_duplicates
from studio.editing.models import EditSession, EditTurn

_sessions, _turns = EditSession.__table__, EditTurn.__table__

SESSION_ROW = select(_sessions.c.owner, _sessions.c.version, _sessions.c.turn_count,
                     _sessions.c.head_turn_id, _sessions.c.source_image).where(_sessions.c.id == bindparam("sid"))

TREE = select(_turns.c.id, _turns.c.parent_id, _turns.c.status, _turns.c.output_image,
              _turns.c.edited_region, _turns.c.seq).where(_turns.c.session_id == bindparam("sid"))

#: compare-and-set: move the head to the new turn only if nobody wrote since ``seen``
RESERVE = (update(_sessions)
           .where(_sessions.c.id == bindparam("sid"), _sessions.c.version == bindparam("seen"))
           .values(version=bindparam("b_version"), head_turn_id=bindparam("b_head"),
                   turn_count=bindparam("b_count"), updated_at=bindparam("b_now")))

INSERT_TURN = insert(_turns)

_RESULT_COLUMNS = ("status", "error", "output_image", "edited_region", "honored", "ignored", "notices",
                   "drift", "duration_s", "finished_at")
RECORD_DONE = (update(_turns).where(_turns.c.id == bindparam("tid"))
               .values({c: bindparam(f"b_{c}") for c in _RESULT_COLUMNS}))
_FAILED_COLUMNS = ("status", "error", "duration_s", "finished_at")
RECORD_FAILED = (update(_turns).where(_turns.c.id == bindparam("tid"))
                 .values({c: bindparam(f"b_{c}") for c in _FAILED_COLUMNS}))

BUMP = (update(_sessions).where(_sessions.c.id == bindparam("sid"))
        .values(version=_sessions.c.version + 1, updated_at=bindparam("b_now"))
        .returning(_sessions.c.version))

_record_image: dict[str, object] = {}


def record_image(dialect: str):
    """INSERT of an ``images`` row that is a no-op when the bytes are already recorded."""
    stmt = _record_image.get(dialect)
    if stmt is None:
        stmt = _record_image[dialect] = insert_ignoring_duplicates(dialect, StoredImage.__table__)
    return stmt


def record_params(turn_id: str, values: dict) -> tuple[object, dict]:
    """The statement and parameters that write a finished turn's ``values``."""
    stmt, cols = (RECORD_DONE, _RESULT_COLUMNS) if values["status"] == "done" else (RECORD_FAILED, _FAILED_COLUMNS)
    return stmt, {"tid": turn_id, **{f"b_{c}": values.get(c) for c in cols}}
