"""The batch's writer thread: groups of finished items per transaction, a bad item isolated."""
from __future__ import annotations

import threading

from studio.synthesis.batch_exec import ItemResult
from studio.synthesis.batch_writer import ResultWriter


class _Executor:
    """Records what was stored; refuses any group holding the item named 'bad'."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.groups: list[list[str]] = []
        self.gate = gate

    def store_many(self, done, batch_id):
        if self.gate is not None:
            self.gate.wait(5)
        ids = [item_id for _, item_id in done]
        if "bad" in ids:
            raise ValueError("constraint failed")
        self.groups.append(ids)
        return ids


def _result() -> ItemResult:
    return ItemResult(sample={"task": "text-to-image", "prompt": "p"})


def test_items_handed_over_while_a_write_runs_are_stored_together_in_order():
    gate = threading.Event()
    ex = _Executor(gate)
    writer = ResultWriter(ex, "b1", on_failed=lambda *a: None)
    for i in range(10):
        writer.put(_result(), f"i{i}")
    gate.set()
    writer.close()
    stored = [i for g in ex.groups for i in g]
    assert stored == [f"i{i}" for i in range(10)]
    assert len(ex.groups) < 10  # grouped, not a transaction per item


def test_a_bad_item_fails_alone_and_the_rest_of_its_group_is_stored():
    gate = threading.Event()
    ex = _Executor(gate)
    failed: list[tuple[str, str]] = []
    stored_calls = []
    writer = ResultWriter(ex, "b1", on_failed=lambda item, msg: failed.append((item, msg)),
                          on_stored=lambda: stored_calls.append(1))
    for name in ("a", "bad", "c"):
        writer.put(_result(), name)
    gate.set()
    writer.close()
    assert [i for g in ex.groups for i in g] == ["a", "c"]
    assert failed and failed[0][0] == "bad" and "constraint failed" in failed[0][1]
    assert stored_calls  # progress is reported after writes


def test_close_with_nothing_handed_over_returns():
    writer = ResultWriter(_Executor(), "b1", on_failed=lambda *a: None)
    writer.close()
