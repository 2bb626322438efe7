"""One background thread per studio process that keeps every open arena's ready items topped up.

Why a thread: annotators reach an arena through the vote path, whose transaction only claims items
that exist (:mod:`studio.arena.open_fill` says why generation stays out of it). Something must make
the next items while annotators vote, without a person waiting on it; this thread does, for every
open arena, woken when an arena opens and otherwise every few seconds. Several app processes may
each run one: the output cache and the items' keys keep them from doing the same work twice. An
arena whose generation fails rests for a while before the next try, so a broken backend is not
called in a loop; its status shows the reason. The thread ends when its studio closes.
"""
from __future__ import annotations

import logging
import threading
import time
import weakref

from studio.arena.open_arena import open_arena_ids
from studio.arena.open_fill import top_up

log = logging.getLogger(__name__)
POLL_S = 2.0
REST_AFTER_FAILURE_S = 30.0


class Keeper:
    """Tops up the open arenas of one studio; :meth:`wake` makes it look now."""

    def __init__(self, studio) -> None:
        self.studio = studio
        self._wake = threading.Event()
        self._resting: dict[str, float] = {}
        self._thread = threading.Thread(target=self._run, name="open-arena-keeper", daemon=True)

    def start(self) -> "Keeper":
        self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        closed = self.studio.closed
        while not closed.is_set():
            try:
                self.round()
            except Exception:  # a broken arena or a database hiccup must not end the thread
                if not closed.is_set():
                    log.exception("open arenas: topping up failed")
            self._wake.wait(POLL_S)
            self._wake.clear()
        with _keepers_lock:
            _keepers.pop(self.studio, None)

    def round(self) -> None:
        """Top up every open arena that is not resting after a failure."""
        for arena in open_arena_ids(self.studio):
            if self.studio.closed.is_set() or self._resting.get(arena, 0.0) > time.monotonic():
                continue
            report = top_up(self.studio, arena, cancel=self.studio.closed)
            if report.problems and not report.made:
                self._resting[arena] = time.monotonic() + REST_AFTER_FAILURE_S
            else:
                self._resting.pop(arena, None)


_keepers: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_keepers_lock = threading.Lock()


def keeper(studio) -> Keeper:
    """The studio's keeper, started on first use."""
    with _keepers_lock:
        found = _keepers.get(studio)
        if found is None:
            found = _keepers[studio] = Keeper(studio).start()
        return found
