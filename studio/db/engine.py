"""Engine creation, session scope and migrate-on-start with a lock against concurrent start-ups."""
from __future__ import annotations

import contextlib
import fcntl
import threading
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from studio.db.migrate import at_heads

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_PG_LOCK_KEY = 0x57D10  # advisory lock id used while migrating


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA mmap_size=268435456")
    cur.close()


#: execution option: begin the connection's transactions with BEGIN IMMEDIATE on SQLite
IMMEDIATE = "studio_begin_immediate"


def _sqlite_begin(conn) -> None:
    """SQLite takes the write lock when a transaction first writes; one that read before that must
    then fail instead of waiting if another writer got there first. A transaction that will write
    asks for the lock up front (waiting up to the busy timeout); the others begin as the driver does."""
    if conn.get_execution_options().get(IMMEDIATE):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if u.get_backend_name() == "postgresql" and u.get_driver_name() in ("", "psycopg2"):
        # psycopg (3) is what requirements.txt installs
        try:
            import psycopg2  # noqa: F401
        except ImportError:
            url = u.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine) -> None:
    """Apply every migration (all branch heads). Serialised across processes."""
    from alembic import command

    url = engine.url.render_as_string(hide_password=False)
    cfg = alembic_config(url)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
            conn.commit()
            try:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "heads")
                conn.commit()
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
                conn.commit()
        return
    lock_path = None
    if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        lock_path = Path(engine.url.database + ".migrate.lock")
    if lock_path is None:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "heads")
        return
    with open(lock_path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            with engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "heads")
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class Database:
    """An engine plus a session factory. ``with db.session() as s:`` commits or rolls back."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        if migrate and not at_heads(self.engine):
            upgrade(self.engine)
        self._factory = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def writers(self) -> int | None:
        """How many :meth:`writing` transactions are worth running at once (None: no limit of its own).

        SQLite has one write lock per file: more writers only wait in its busy handler, which sleeps
        and retries with growing pauses, leaving the lock idle in between; queueing them in the
        server instead hands the lock on as soon as it is free."""
        return 1 if self.dialect == "sqlite" else None

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        s = self._factory()
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    @contextlib.contextmanager
    def writing(self) -> Iterator[Connection]:
        """A Core connection in a transaction that will write, committed on leaving (rolled back on an
        error). On SQLite it holds the write lock from its first statement, so what it reads stays
        true until it commits; on PostgreSQL it locks the rows it selects ``FOR UPDATE``."""
        with self.engine.connect() as conn:
            conn.execution_options(**{IMMEDIATE: True})
            with conn.begin():
                yield conn

    def dispose(self) -> None:
        self.engine.dispose()


_open: dict[str, Database] = {}
_open_lock = threading.Lock()


def open_database(url: str) -> Database:
    """One migrated Database per URL per process."""
    with _open_lock:
        db = _open.get(url)
        if db is None:
            db = Database(url)
            _open[url] = db
        return db
