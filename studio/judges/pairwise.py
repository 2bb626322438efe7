"""Pairs judged without position bias: every pair is asked in both orders.

When the two orders agree the verdict stands; when they disagree (the verdict follows the position, not
the images) the pair counts as a tie and is marked position-inconsistent. A pair whose either order has
no usable answer (unparseable, refused, failed) has no verdict and is never counted.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence, TypeVar

from PIL import Image

from studio.judges.judges import Judge, Verdict

T = TypeVar("T")
R = TypeVar("R")
_FLIP = {"A": "B", "B": "A", "tie": "tie"}
#: the judge's "A"/"B" from the item's side, as the annotation area writes winners
ITEM_SIDE = {"A": "model_a", "B": "model_b", "tie": "tie"}


@dataclass
class PairTask:
    key: str
    prompt: str
    a: Image.Image
    b: Image.Image
    sources: Sequence[Image.Image] = ()
    metadata: dict[str, Any] | None = None


@dataclass
class PairResult:
    """``winner`` is "A", "B" or "tie" from the pair's own side (None unless status is ok)."""

    key: str
    status: str
    winner: str | None
    consistent: bool | None
    forward: Verdict
    backward: Verdict
    notices: list[str] = field(default_factory=list)

    @property
    def item_winner(self) -> str | None:
        return ITEM_SIDE.get(self.winner) if self.winner else None

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "status": self.status, "winner": self.item_winner,
                "position_consistent": self.consistent, "forward": self.forward.as_dict(),
                "backward": self.backward.as_dict(), "notices": self.notices}


def combine(key: str, forward: Verdict, backward: Verdict) -> PairResult:
    """One pair's result from its verdict in the A,B order and in the B,A order."""
    notices = sorted(set(forward.notices) | set(backward.notices))
    if forward.status != "ok" or backward.status != "ok":
        status = forward.status if forward.status != "ok" else backward.status
        return PairResult(key, status, None, None, forward, backward, notices)
    second = _FLIP[backward.winner]
    if forward.winner == second:
        return PairResult(key, "ok", forward.winner, True, forward, backward, notices)
    return PairResult(key, "ok", "tie", False, forward, backward, notices)


def parallel_map(fn: Callable[[T], R], items: Iterable[T], concurrency: int) -> list[R]:
    """``fn`` over ``items`` on ``concurrency`` threads, results in input order (judges wait on I/O)."""
    items = list(items)
    if concurrency <= 1 or len(items) <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(fn, items))


def judge_pairs(judge: Judge, tasks: Sequence[PairTask], criterion: str = "overall",
                concurrency: int = 8) -> list[PairResult]:
    """Every task asked in both orders (the 2·N calls share ``concurrency`` workers)."""
    judge.check(pairwise=True)

    def ask(job: tuple[PairTask, bool]) -> Verdict:
        t, flipped = job
        a, b = (t.b, t.a) if flipped else (t.a, t.b)
        return judge.compare(a, b, t.prompt, t.sources, criterion, t.metadata)

    jobs = [(t, flipped) for t in tasks for flipped in (False, True)]
    verdicts = parallel_map(ask, jobs, concurrency)
    return [combine(t.key, verdicts[2 * k], verdicts[2 * k + 1]) for k, t in enumerate(tasks)]
