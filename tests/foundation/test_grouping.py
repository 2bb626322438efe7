"""Writer threads take their queue's work a group at a time and stop after what came before STOP."""
import queue

from studio.grouping import STOP, next_group


def test_groups_are_capped_and_stop_comes_after_the_items_before_it():
    q = queue.SimpleQueue()
    for k in range(5):
        q.put(k)
    q.put(STOP)
    q.put("after")
    assert next_group(q, 3) == ([0, 1, 2], False)
    assert next_group(q, 3) == ([3, 4], True)
    q2 = queue.SimpleQueue()
    q2.put(STOP)
    assert next_group(q2, 3) == ([], True)
