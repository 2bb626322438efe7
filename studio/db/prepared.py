"""SQLAlchemy Core statements compiled once and run on a plain DBAPI cursor.

For the few paths where SQLAlchemy's per-execution work (execution context, parameter
construction, result wrapping: some 50 µs a statement) costs more than the database does. The SQL
is still SQLAlchemy's, compiled for the connection's dialect, and values still go through the
column types' own bind and result processors, so what is stored and read back is exactly what the
ORM and Core paths store and read (timestamps, JSON, booleans).

Positional paramstyles only (SQLite's ``qmark``, psycopg's ``format``/``pyformat`` are not).
"""
from __future__ import annotations

from collections import namedtuple
from typing import Any, Callable, Mapping, Sequence

from sqlalchemy.engine import Dialect
from sqlalchemy.sql import Insert, Select


class Prepared:
    """One statement for one dialect: ``params(values)`` gives the DBAPI parameter tuple and
    ``rows(cursor)`` the processed result rows (named tuples, attribute access like Core rows)."""

    def __init__(self, stmt: Any, dialect: Dialect, *, column_keys: Sequence[str] | None = None) -> None:
        compiled = stmt.compile(dialect=dialect, column_keys=list(column_keys) if column_keys is not None else None)
        if compiled.positiontup is None:
            raise ValueError(f"{dialect.name}: Prepared needs a positional paramstyle, not {dialect.paramstyle}")
        self.sql = compiled.string
        self._compiled = compiled
        self._names = tuple(compiled.positiontup)
        if isinstance(stmt, Insert) and column_keys is not None:
            # a column left out would get its Python-side default only through an execution context
            missing = [n for n in self._names if n not in column_keys]
            if missing:
                raise ValueError(f"{stmt.table.name}: give every inserted column a value (missing {missing})")
        self._procs: list[Callable[[Any], Any] | None] = [
            compiled.binds[n].type.dialect_impl(dialect).bind_processor(dialect) for n in self._names
        ]
        # per set of given names: for each position, the given name to take, or a constant (a literal
        # of the statement, already processed)
        self._layouts: dict[frozenset, tuple] = {}
        self._row: type | None = None
        self._result: list[Callable[[Any], Any] | None] = []
        if isinstance(stmt, Select):
            cols = list(stmt.selected_columns)
            self._row = namedtuple("Row", [c.key for c in cols])  # type: ignore[misc]
            self._result = [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in cols]

    def params(self, values: Mapping[str, Any] | None = None) -> tuple:
        values = values or {}
        given = frozenset(values)
        layout = self._layouts.get(given)
        if layout is None:  # SQLAlchemy fills in the statement's literals and checks nothing is missing
            full = self._compiled.construct_params(dict(values))
            layout = self._layouts[given] = tuple(
                (n, p, None) if n in given else (None, None, p(full[n]) if p is not None else full[n])
                for n, p in zip(self._names, self._procs))
        return tuple((p(values[n]) if p is not None else values[n]) if n is not None else const
                     for n, p, const in layout)

    def rows(self, cursor: Any) -> list:
        if self._row is None:
            raise TypeError("not a SELECT")
        make, procs = self._row._make, self._result
        if not any(procs):
            return [make(r) for r in cursor.fetchall()]
        return [make(p(v) if p is not None else v for p, v in zip(procs, r)) for r in cursor.fetchall()]


class RawExecutor:
    """Runs :class:`Prepared` statements on one DBAPI connection, compiling each statement once."""

    def __init__(self, dbapi_connection: Any, dialect: Dialect) -> None:
        self.connection = dbapi_connection
        self.dialect = dialect
        self._cursor = dbapi_connection.cursor()
        self._cache: dict[tuple[int, tuple[str, ...] | None], Prepared] = {}

    def prepared(self, stmt: Any, params: Mapping[str, Any]) -> Prepared:
        keys = tuple(params) if isinstance(stmt, Insert) else None
        p = self._cache.get((id(stmt), keys))
        if p is None:  # statements are module-level constants: their ids stay valid
            p = self._cache[(id(stmt), keys)] = Prepared(stmt, self.dialect, column_keys=keys)
        return p

    def all(self, stmt: Any, params: Mapping[str, Any]) -> list:
        p = self.prepared(stmt, params)
        self._cursor.execute(p.sql, p.params(params))
        return p.rows(self._cursor)

    def first(self, stmt: Any, params: Mapping[str, Any]):
        rows = self.all(stmt, params)
        return rows[0] if rows else None

    def rowcount(self, stmt: Any, params: Mapping[str, Any]) -> int:
        p = self.prepared(stmt, params)
        self._cursor.execute(p.sql, p.params(params))
        return self._cursor.rowcount


class CoreExecutor:
    """The same three calls on a SQLAlchemy Connection (the general path, any dialect)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def all(self, stmt: Any, params: Mapping[str, Any]) -> list:
        return self.conn.execute(stmt, dict(params)).all()

    def first(self, stmt: Any, params: Mapping[str, Any]):
        return self.conn.execute(stmt, dict(params)).first()

    def rowcount(self, stmt: Any, params: Mapping[str, Any]) -> int:
        return self.conn.execute(stmt, dict(params)).rowcount
