"""Taking work off a queue a group at a time, for the writer threads that commit a group at once."""
from __future__ import annotations

import queue
from typing import Any

STOP = object()  # put on a queue to stop its writer once everything before it is written


def next_group(q: "queue.SimpleQueue[Any]", max_group: int) -> tuple[list, bool]:
    """Wait for one item, then take whatever else has queued, up to ``max_group`` items.

    Returns (items, stop): ``stop`` is true when :data:`STOP` came (after the items before it; an
    empty list when it came first).
    """
    first = q.get()
    if first is STOP:
        return [], True
    group = [first]
    while len(group) < max_group:
        try:
            nxt = q.get_nowait()
        except queue.Empty:
            break
        if nxt is STOP:
            return group, True
        group.append(nxt)
    return group, False
