"""Reading batches: status with counts, ETA and LLM usage; the batch list; items; live-runner checks."""
from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass, field
from datetime import timedelta, timezone
from typing import Any

from sqlalchemy import func, select

from studio.db import Database, utcnow
from studio.synthesis.models import SynthesisBatch, SynthesisItem
from studio.synthesis.rows import PlannedRow
from studio.synthesis.templates import SynthesisError

STALE_AFTER_S = 60.0
#: batches run by this process: batch id -> its runner (see batches.BatchRunner)
ACTIVE: dict[str, Any] = {}
ACTIVE_LOCK = threading.Lock()


@dataclass
class BatchStatus:
    id: str
    name: str
    status: str
    method: str
    dataset: str
    total: int
    counts: dict[str, int] = field(default_factory=dict)
    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    eta_s: float | None = None
    elapsed_s: float | None = None
    error: str | None = None
    runner_alive: bool = False

    @property
    def done(self) -> int:
        return self.counts.get("done", 0)

    @property
    def failed(self) -> int:
        return self.counts.get("failed", 0)

    def summary(self) -> str:
        eta = f", ETA {self.eta_s:.0f} s" if self.eta_s is not None and self.status == "running" else ""
        tokens = (f"; LLM {self.llm_calls} calls, {self.prompt_tokens + self.completion_tokens} tokens"
                  + (f", ${self.cost_usd:.4f}" if self.cost_usd else "")) if self.llm_calls else ""
        return (f"{self.name or self.id[:8]}: {self.status} — {self.done}/{self.total} done, "
                f"{self.failed} failed, {self.counts.get('pending', 0) + self.counts.get('running', 0)} "
                f"to go{eta}{tokens}" + (f" ({self.error})" if self.error else ""))


def runner_id() -> str:
    return f"{os.getpid()}@{socket.gethostname()}"[:64]


def runner_alive(runner: str | None, heartbeat) -> bool:
    if not runner:
        return False
    pid, _, host = runner.partition("@")
    host = host.split("#", 1)[0]
    if host == socket.gethostname() and pid.isdigit():
        if int(pid) == os.getpid():
            return runner in {r.runner for r in ACTIVE.values()}
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
    if heartbeat is None:
        return False
    if heartbeat.tzinfo is None:
        heartbeat = heartbeat.replace(tzinfo=timezone.utc)
    return utcnow() - heartbeat < timedelta(seconds=STALE_AFTER_S)


def batch_status(studio, batch_id: str) -> BatchStatus:
    return load_batch_status(studio.db, batch_id)


def load_batch_status(db: Database, batch_id: str) -> BatchStatus:
    """:func:`batch_status` on the database alone (what a batch runner holds)."""
    with db.session() as s:
        b = s.get(SynthesisBatch, batch_id)
        if b is None:
            raise SynthesisError(f"no batch {batch_id!r}")
        counts = dict(s.execute(select(SynthesisItem.state, func.count()).where(
            SynthesisItem.batch_id == batch_id).group_by(SynthesisItem.state)).all())
    st = BatchStatus(
        id=b.id, name=b.name, status=b.status, method=b.method, dataset=b.dataset, total=b.total,
        counts={k: int(v) for k, v in counts.items()}, llm_calls=b.llm_calls, prompt_tokens=b.prompt_tokens,
        completion_tokens=b.completion_tokens, cost_usd=b.cost_usd, error=b.error,
        runner_alive=b.status in ("running", "cancelling") and runner_alive(b.runner, b.heartbeat_at),
    )
    if b.started_at is not None:
        start = b.started_at if b.started_at.tzinfo else b.started_at.replace(tzinfo=utcnow().tzinfo)
        end = b.finished_at or utcnow()
        end = end if end.tzinfo else end.replace(tzinfo=utcnow().tzinfo)
        st.elapsed_s = max(0.0, (end - start).total_seconds())
        finished = st.done + st.failed
        left = st.total - finished
        if finished and left and b.status == "running":
            st.eta_s = st.elapsed_s / finished * left
    if b.status == "running" and not st.runner_alive:
        st.status = "interrupted"
    return st


def list_batches(studio, limit: int = 50) -> list[BatchStatus]:
    with studio.db.session() as s:
        ids = [i for (i,) in s.execute(select(SynthesisBatch.id).order_by(
            SynthesisBatch.created_at.desc()).limit(limit))]
    return [batch_status(studio, i) for i in ids]


def batch_items(studio, batch_id: str, state: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    stmt = select(SynthesisItem).where(SynthesisItem.batch_id == batch_id)
    if state:
        stmt = stmt.where(SynthesisItem.state == state)
    with studio.db.session() as s:
        items = s.execute(stmt.order_by(SynthesisItem.position).limit(limit)).scalars().all()
        return [{"position": it.position, "state": it.state, "node": it.taxonomy_id,
                 "text": PlannedRow.from_dict(it.spec).preview_text(), "error": it.error,
                 "raw_output": it.raw_output, "attempts": it.attempts, "sample_id": it.sample_id}
                for it in items]




def batch_gallery(studio, batch_id: str, limit: int = 60) -> list[dict[str, Any]]:
    """The batch's items in order with what to look at: the made image's path (None when the item has
    none: prompts only, failed or not made yet), the prompt, the state and the error."""
    from studio.db.models import Sample

    stmt = (select(SynthesisItem, Sample).outerjoin(Sample, Sample.id == SynthesisItem.sample_id)
            .where(SynthesisItem.batch_id == batch_id).order_by(SynthesisItem.position).limit(limit))
    out = []
    with studio.db.session() as s:
        for item, sample in s.execute(stmt).all():
            sha = sample.output_image if sample is not None else None
            path = studio.images.path_for(sha) if sha else None
            out.append({"position": item.position, "state": item.state, "error": item.error,
                        "prompt": (sample.prompt if sample is not None else None)
                        or PlannedRow.from_dict(item.spec).preview_text(),
                        "image": str(path) if path is not None and path.exists() else None})
    return out
