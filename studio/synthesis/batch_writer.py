"""Stores a batch's finished items from one thread, a group per transaction.

Workers hand each finished item over and go straight on to the next one. The writer takes
whatever has queued up (one item when the batch is slow, dozens when it is fast) and writes it in
one transaction, so a fast batch neither pays a commit per item nor has 16 workers queueing on
the database's single write lock. An item is "done" only once its group has committed; if the
process dies first, the item is still "running" and a resumed batch runs it again.
"""
from __future__ import annotations

import logging
import queue
import threading
from typing import Callable

from studio.synthesis.batch_exec import ItemExecutor, ItemResult

log = logging.getLogger(__name__)

MAX_GROUP = 64
_STOP = object()  # put on the queue to stop the writer once everything before it is stored


class ResultWriter:
    """One thread that stores finished items for one batch run."""

    def __init__(self, executor: ItemExecutor, batch_id: str, *,
                 on_failed: Callable[[str, str], None], on_stored: Callable[[], None] | None = None) -> None:
        self._executor = executor
        self._batch_id = batch_id
        self._on_failed = on_failed
        self._on_stored = on_stored
        self._queue: "queue.SimpleQueue[object]" = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, daemon=True, name=f"batch-writer-{batch_id[:8]}")
        self._thread.start()

    def put(self, result: ItemResult, item_id: str) -> None:
        self._queue.put((result, item_id))

    def close(self) -> None:
        """Store everything handed over so far, then stop."""
        self._queue.put(_STOP)
        self._thread.join()

    def _loop(self) -> None:
        stopping = False
        while not stopping:
            group = [self._queue.get()]  # wait for one, then take what else has queued
            while len(group) < MAX_GROUP:
                try:
                    group.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if _STOP in group:
                group, stopping = group[:group.index(_STOP)], True
            if group:
                self._write(group)

    def _write(self, group: list) -> None:
        try:
            self._executor.store_many(group, self._batch_id)
        except Exception:  # noqa: BLE001 - one bad item must not hold the others back
            log.exception("storing %d items of batch %s together failed; storing them one by one",
                          len(group), self._batch_id)
            for result, item_id in group:
                try:
                    self._executor.store_many([(result, item_id)], self._batch_id)
                except Exception as exc:  # noqa: BLE001 - surfaces as a failed item
                    log.exception("storing item %s failed", item_id)
                    try:
                        self._on_failed(item_id, f"could not store the result: {type(exc).__name__}: {exc}")
                    except Exception:  # noqa: BLE001 - the item stays "running": a resume redoes it
                        log.exception("could not mark item %s failed", item_id)
        if self._on_stored is not None:
            try:
                self._on_stored()
            except Exception:  # noqa: BLE001 - a progress callback must not stop the writer
                log.exception("progress callback of batch %s failed", self._batch_id)
