"""The newest snapshot of each session this process has seen, per database, keyed by the session's version.

Every change to a session bumps ``EditSession.version`` (see sessions.py), so a snapshot whose
version equals the row's current version is exact, whichever process made the change. A turn
then extends the snapshot with itself instead of reading every turn of the session back.
"""
from __future__ import annotations

import threading
import weakref
from cachetools import LRUCache

from studio.db import Database
from studio.editing.views import SessionView

MAX_SESSIONS = 256
_caches: "weakref.WeakKeyDictionary[Database, _ViewCache]" = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


class _ViewCache:
    def __init__(self) -> None:
        self._views: LRUCache = LRUCache(maxsize=MAX_SESSIONS)
        self._lock = threading.Lock()

    def get(self, session_id: str, version: int) -> SessionView | None:
        with self._lock:
            view = self._views.get(session_id)
            return view if view is not None and view.version == version else None

    def put(self, view: SessionView) -> None:
        with self._lock:
            old = self._views.get(view.id)
            if old is not None and old.version > view.version:
                return  # a newer snapshot arrived first
            self._views[view.id] = view

    def drop(self, session_id: str) -> None:
        with self._lock:
            self._views.pop(session_id, None)


def _cache(db: Database) -> _ViewCache:
    with _caches_lock:
        cache = _caches.get(db)
        if cache is None:
            cache = _caches[db] = _ViewCache()
        return cache


def cached_view(db: Database, session_id: str, version: int) -> SessionView | None:
    """The snapshot of ``session_id`` at exactly ``version``, if this process has it."""
    return _cache(db).get(session_id, version)


def remember_view(db: Database, view: SessionView) -> None:
    _cache(db).put(view)


def forget_view(db: Database, session_id: str) -> None:
    _cache(db).drop(session_id)
