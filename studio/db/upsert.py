"""INSERT that skips rows whose key already exists, on SQLite and PostgreSQL alike."""
from __future__ import annotations

from typing import Any


def insert_ignoring_duplicates(dialect: str, table: Any):
    """``INSERT … ON CONFLICT DO NOTHING`` for ``table`` (a model or Table) in ``dialect``.

    Content-addressed rows (the same image bytes stored by two writers at once) need no
    read-then-insert and no savepoint: the second insert is simply a no-op.
    """
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - the studio runs on the two above
        raise NotImplementedError(f"no insert-or-ignore for {dialect}")
    return insert(table).on_conflict_do_nothing()
