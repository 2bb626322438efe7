"""Votes from an asyncio server, stored by one writer thread a group per transaction (SQLite).

A vote's database work is well under a millisecond, and on SQLite every write waits for one lock
anyway. Running each vote in a worker thread of its own cost the server more than the vote itself:
the thread hop, and the interpreter lock changing hands around every SQLite call while dozens of
request threads want it; running them on the event loop held the loop through every SQLite call.

So on SQLite a vote handler hands its click to one writer thread per database and awaits it. The
writer takes whatever has queued up (one click when votes are sparse, dozens under load), runs
them with :func:`studio.annotation.click.click_in` in one ``BEGIN IMMEDIATE`` transaction on a
connection of its own and commits once; only then are the callers answered (a vote is stored
before the page hears of it, as on every other path), with one wake-up per event loop per group.
The loop meanwhile serves other requests: the writer needs the interpreter lock only for its
Python, and SQLite's work (reading pages, writing the WAL) runs without it. Copying the WAL into
the database (which ends in an fsync) happens from another connection in another thread, so the
votes never wait for it.

A click that fails its own checks (not the caller's item, a criterion unanswered) fails alone,
before anything of it is written. Any other error rolls the whole group back and every click in it
is retried on its own through :func:`studio.annotation.click.vote_and_next` in a worker thread, so
one bad click cannot lose the others. The unusual clicks (resends, items to resume, nothing left to
claim) and the stale-assignment sweep also run in worker threads, after the group's commit.

PostgreSQL (network round trips, row locks instead of one write lock) always takes the
worker-thread path.
"""
from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from dataclasses import dataclass, field
from typing import Any, Sequence

from studio.annotation import AnnotationError, click, voting
from studio.db.prepared import RawExecutor
from studio.grouping import STOP, next_group

log = logging.getLogger(__name__)

MAX_GROUP = 64  # clicks per transaction; more wait for the next one
CHECKPOINT_EVERY = 64  # votes (some 14 WAL pages each) between WAL checkpoints, near SQLite's 1000 pages


@dataclass
class _Click:
    assignment_id: str
    annotator: str
    choice: str
    criteria_choices: Any
    loop: asyncio.AbstractEventLoop = field(repr=False)
    future: asyncio.Future = field(repr=False)


# what a click of a group came to; the caller finishes in a worker thread unless it is "done"
_DONE, _GENERAL, _ALONE, _FINISH = "done", "general", "alone", "finish"


async def vote_and_next(
    studio,
    assignment_id: str,
    annotator: str,
    choice: str,
    *,
    criteria_choices: dict[str, str] | Sequence[str | None] | None = None,
) -> tuple[voting.VoteReceipt, voting.ItemView | None, voting.Progress]:
    """:func:`studio.annotation.click.vote_and_next` for callers on an event loop."""
    annotator = voting.check_vote(annotator, choice)
    loop = asyncio.get_running_loop()

    def alone():
        return click.vote_and_next(studio, assignment_id, annotator, choice, criteria_choices=criteria_choices)

    if studio.db.dialect != "sqlite":
        return await loop.run_in_executor(None, alone)
    req = _Click((assignment_id or "").strip(), annotator, choice, criteria_choices or {}, loop, loop.create_future())
    writer(studio.db).put(req)
    kind, value = await req.future
    if kind == _DONE:
        return value
    if kind == _GENERAL:
        return await loop.run_in_executor(None, lambda: voting.vote_and_next_general(
            studio, assignment_id, annotator, choice, criteria_choices=criteria_choices))
    if kind == _ALONE:
        return await loop.run_in_executor(None, alone)
    # stored; what is left (the sweep, or looking the next item up) reads and writes elsewhere
    return await loop.run_in_executor(None, click.finish, studio, annotator, value)


_writers: dict[int, "VoteWriter"] = {}
_writers_lock = threading.Lock()


def writer(db) -> "VoteWriter":
    """The database's vote writer (started on first use, stopped when the database is disposed)."""
    w = _writers.get(id(db))
    if w is None or w.db is not db:
        with _writers_lock:
            w = _writers.get(id(db))
            if w is None or w.db is not db:
                w = _writers[id(db)] = VoteWriter(db)
    return w


class VoteWriter:
    """One thread with one connection that stores the clicks handed to it, a group per commit."""

    def __init__(self, db) -> None:
        self.db = db
        self._queue: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
        self._ex: RawExecutor | None = None
        self._since_checkpoint = 0
        self._checkpointing = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="vote-writer")
        self._thread.start()
        db.on_dispose(self.close)

    def put(self, req: _Click) -> None:
        self._queue.put(req)

    def close(self) -> None:
        """Store what was handed over, then stop and close the connection."""
        if self._thread.is_alive():
            self._queue.put(STOP)
            self._thread.join(timeout=30)
        with _writers_lock:
            if _writers.get(id(self.db)) is self:
                del _writers[id(self.db)]

    def _run(self) -> None:
        try:
            while True:
                group, stopping = next_group(self._queue, MAX_GROUP)
                if group:
                    outcomes: list = [(_ALONE, None)] * len(group)
                    try:
                        outcomes = self._write(group)
                    finally:  # never leave a caller waiting, whatever happened
                        self._answer(group, outcomes)
                if stopping:
                    return
        finally:
            self._close_connection()

    def _write(self, group: list[_Click]) -> list:
        """One transaction for the group: (kind, value) or an exception per click."""
        try:
            with voting._sqlite_writer:  # the other writers of this process
                ex = self._executor()
                conn = ex.connection
                conn.execute("BEGIN IMMEDIATE")
                try:
                    outcomes: list = []
                    for req in group:
                        try:
                            clicked = click.click_in(ex, req.assignment_id, req.annotator, req.choice,
                                                     req.criteria_choices)
                        except click._Unusual:
                            outcomes.append((_GENERAL, None))
                        except AnnotationError as exc:  # its own checks failed; nothing of it was written
                            outcomes.append(exc)
                        else:
                            outcomes.append(_outcome(clicked))
                    conn.execute("COMMIT")
                    self._after_commit(len(group))
                    return outcomes
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
        except Exception:
            log.warning("a group of %d votes was not stored together; each is retried on its own", len(group),
                        exc_info=True)
            if not isinstance(self._ex, RawExecutor) or self._ex.connection.in_transaction:
                self._close_connection()  # in an unknown state: the next group opens a new one
            return [(_ALONE, None)] * len(group)

    def _after_commit(self, stored: int) -> None:
        """Copy the WAL into the database now and then, from another connection in another thread:
        that copy ends in an fsync (tens of milliseconds here), which the votes queued meanwhile must
        not wait for. The writer's own connection never checkpoints."""
        self._since_checkpoint += stored
        if self._since_checkpoint >= CHECKPOINT_EVERY and not self._checkpointing.is_set():
            self._since_checkpoint = 0
            self._checkpointing.set()
            threading.Thread(target=self._checkpoint, daemon=True, name="vote-wal-checkpoint").start()

    def _checkpoint(self) -> None:
        try:
            with self.db.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        except Exception:  # noqa: BLE001 - the next one tries again; SQLite's own checkpoints go on
            log.warning("WAL checkpoint failed", exc_info=True)
        finally:
            self._checkpointing.clear()

    @staticmethod
    def _answer(group: list[_Click], outcomes: list) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list] = {}
        for req, outcome in zip(group, outcomes):
            by_loop.setdefault(req.loop, []).append((req.future, outcome))
        for loop, answers in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve, answers)  # one wake-up per loop
            except RuntimeError:  # that loop is closed: nobody is waiting any more
                pass

    def _executor(self) -> RawExecutor:
        if self._ex is None:
            proxied = self.db.engine.raw_connection()  # with the engine's pragmas (WAL, busy timeout ...)
            proxied.detach()  # this thread's own, never returned to the pool
            dbapi = proxied.dbapi_connection
            dbapi.isolation_level = None  # transactions are begun and committed explicitly
            dbapi.execute("PRAGMA wal_autocheckpoint=0")  # see _after_commit
            self._ex = RawExecutor(dbapi, self.db.engine.dialect)
        return self._ex

    def _close_connection(self) -> None:
        ex, self._ex = self._ex, None
        if ex is not None:
            try:
                ex.connection.close()
            except sqlite3.Error:
                pass


def _outcome(clicked: click.Clicked):
    if clicked.view is None or voting.sweep_due(clicked.batch_id):
        return (_FINISH, clicked)
    return (_DONE, (clicked.receipt, clicked.view, clicked.progress))


def _resolve(answers: list) -> None:
    for future, outcome in answers:
        if not future.done():  # a caller that went away (cancelled) has nothing to hear
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
