"""Database access: one SQLAlchemy engine per URL, sessions, and migrations applied at start-up.

SQLite (the default) gets WAL, a busy timeout and foreign keys; any other SQLAlchemy URL
(PostgreSQL for multi-annotator deployments) works unchanged. Engine packages own their tables
(``studio/<area>/models.py`` on :class:`Base`) and their migrations (see migrations/README).
"""
from studio.db.base import Base, new_id, utcnow  # noqa: F401
from studio.db.engine import Database, open_database  # noqa: F401
