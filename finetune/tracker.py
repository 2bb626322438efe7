"""Reading and writing the run tracker (the ``finetune_*`` tables) in short transactions.

The training process writes through :class:`MetricWriter` (buffered: one transaction per batch of
metrics, plus a heartbeat); the UI and CLI read through :class:`RunTracker`. SQLite runs in WAL
mode with a busy timeout (see studio.db.engine), so a writer and readers never see "database is locked".
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable

from sqlalchemy import delete, func, insert, select, update

from finetune.models import (
    RUN_STATUSES,
    FinetuneCheckpoint,
    FinetuneEvent,
    FinetuneMetric,
    FinetuneMetricLatest,
    FinetuneParam,
    FinetuneRun,
    FinetuneSample,
)
from studio.db import Database, new_id, utcnow


@dataclass
class RunInfo:
    """A detached, plain copy of a run row (safe to hand to the UI)."""

    id: str
    name: str
    status: str
    task: str
    method: str
    base_model: str
    config: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    pid: int | None
    host: str | None
    device: str
    command: str
    output_dir: str
    log_path: str
    step: int
    total_steps: int
    error: str | None
    stop_requested: bool
    result_path: str | None
    latest: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: FinetuneRun, latest: dict[str, float] | None = None) -> "RunInfo":
        names = [f for f in cls.__dataclass_fields__ if f != "latest"]
        return cls(**{n: getattr(row, n) for n in names}, latest=dict(latest or {}))


def _aware(ts: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; treat them as UTC."""
    if ts is not None and ts.tzinfo is None:
        return ts.replace(tzinfo=timezone.utc)
    return ts


def flatten_params(config: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"lora": {"rank": 4}}`` -> ``{"lora.rank": "4"}`` for the params table."""
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten_params(value, name + "."))
        else:
            out[name] = value if isinstance(value, str) else json.dumps(value)
    return out


def _upsert_latest(db: Database, rows: list[dict[str, Any]]):
    """An INSERT … ON CONFLICT DO UPDATE for the latest-value table on SQLite and PostgreSQL."""
    if db.dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    stmt = dialect_insert(FinetuneMetricLatest).values(rows)
    return stmt.on_conflict_do_update(
        index_elements=["run_id", "key"],
        set_={"step": stmt.excluded.step, "value": stmt.excluded.value, "wall_time": stmt.excluded.wall_time},
    )


class RunTracker:
    """Everything the UI, CLI and launcher read or change about runs."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- runs ------------------------------------------------------------------------------
    def create_run(self, *, config: dict[str, Any], output_dir: str, log_path: str, device: str,
                   command: str = "", status: str = "queued", run_id: str | None = None) -> str:
        run_id = run_id or new_id()
        with self.db.session() as s:
            s.add(FinetuneRun(
                id=run_id, name=str(config.get("name") or run_id[:8])[:128], status=status,
                task=config["task"], method=config["method"], base_model=str(config["base_model"])[:512],
                config=config, output_dir=output_dir, log_path=log_path, device=device, command=command,
                total_steps=int(config.get("max_steps") or 0), step=0, stop_requested=False,
            ))
            s.flush()
            s.execute(insert(FinetuneParam), [
                {"run_id": run_id, "key": k[:128], "value": v} for k, v in flatten_params(config).items()
            ])
            s.add(FinetuneEvent(run_id=run_id, kind=status, message="run created"))
        return run_id

    def get(self, run_id: str) -> RunInfo | None:
        with self.db.session() as s:
            row = s.get(FinetuneRun, run_id)
            if row is None:
                return None
            return self._info(row, self.latest(run_id, session=s))

    def _info(self, row: FinetuneRun, latest: dict[str, float]) -> RunInfo:
        info = RunInfo.from_row(row, latest)
        for name in ("created_at", "started_at", "finished_at", "heartbeat_at"):
            setattr(info, name, _aware(getattr(info, name)))
        return info

    def list_runs(self, statuses: Iterable[str] | None = None, limit: int = 200) -> list[RunInfo]:
        """Newest first, each with its latest metric values (one indexed query, not a scan)."""
        stmt = select(FinetuneRun).order_by(FinetuneRun.created_at.desc()).limit(limit)
        if statuses:
            stmt = stmt.where(FinetuneRun.status.in_(list(statuses)))
        with self.db.session() as s:
            rows = list(s.scalars(stmt))
            ids = [r.id for r in rows]
            latest: dict[str, dict[str, float]] = {i: {} for i in ids}
            if ids:
                for run_id, key, value in s.execute(
                    select(FinetuneMetricLatest.run_id, FinetuneMetricLatest.key, FinetuneMetricLatest.value)
                    .where(FinetuneMetricLatest.run_id.in_(ids))
                ):
                    latest[run_id][key] = value
            return [self._info(r, latest[r.id]) for r in rows]

    def update(self, run_id: str, **fields: Any) -> None:
        if "status" in fields and fields["status"] not in RUN_STATUSES:
            raise ValueError(f"unknown run status {fields['status']!r}")
        with self.db.session() as s:
            s.execute(update(FinetuneRun).where(FinetuneRun.id == run_id).values(**fields))

    def transition(self, run_id: str, status: str, message: str = "", *,
                   only_from: Iterable[str] | None = None, **fields: Any) -> bool:
        """Set the status (and fields) and log an event; with ``only_from``, only from those statuses."""
        if status not in RUN_STATUSES:
            raise ValueError(f"unknown run status {status!r}")
        stmt = update(FinetuneRun).where(FinetuneRun.id == run_id)
        if only_from is not None:
            stmt = stmt.where(FinetuneRun.status.in_(list(only_from)))
        with self.db.session() as s:
            changed = s.execute(stmt.values(status=status, **fields)).rowcount
            if changed:
                s.add(FinetuneEvent(run_id=run_id, kind=status, message=message[:20000]))
        return bool(changed)

    def event(self, run_id: str, kind: str, message: str = "") -> None:
        with self.db.session() as s:
            s.add(FinetuneEvent(run_id=run_id, kind=kind[:32], message=message))

    def events(self, run_id: str) -> list[tuple[datetime, str, str]]:
        with self.db.session() as s:
            rows = s.execute(
                select(FinetuneEvent.created_at, FinetuneEvent.kind, FinetuneEvent.message)
                .where(FinetuneEvent.run_id == run_id).order_by(FinetuneEvent.id)
            )
            return [(_aware(t), k, m) for t, k, m in rows]

    def request_stop(self, run_id: str) -> None:
        with self.db.session() as s:
            s.execute(update(FinetuneRun).where(FinetuneRun.id == run_id).values(stop_requested=True))
            s.add(FinetuneEvent(run_id=run_id, kind="stop-requested", message=""))

    def stop_requested(self, run_id: str) -> bool:
        with self.db.session() as s:
            return bool(s.scalar(select(FinetuneRun.stop_requested).where(FinetuneRun.id == run_id)))

    def delete(self, run_id: str) -> None:
        """Remove the run and every row that belongs to it (files are the launcher's job)."""
        with self.db.session() as s:
            for model in (FinetuneMetric, FinetuneMetricLatest, FinetuneParam, FinetuneCheckpoint,
                          FinetuneSample, FinetuneEvent):
                s.execute(delete(model).where(model.run_id == run_id))
            s.execute(delete(FinetuneRun).where(FinetuneRun.id == run_id))

    def params(self, run_id: str) -> dict[str, str]:
        with self.db.session() as s:
            return dict(s.execute(
                select(FinetuneParam.key, FinetuneParam.value).where(FinetuneParam.run_id == run_id)
            ).all())

    # -- metrics ---------------------------------------------------------------------------
    def latest(self, run_id: str, session=None) -> dict[str, float]:
        stmt = select(FinetuneMetricLatest.key, FinetuneMetricLatest.value).where(
            FinetuneMetricLatest.run_id == run_id
        )
        if session is not None:
            return dict(session.execute(stmt).all())
        with self.db.session() as s:
            return dict(s.execute(stmt).all())

    def curve(self, run_id: str, key: str = "loss", max_points: int = 2000) -> list[tuple[int, float]]:
        """(step, value) pairs in step order, thinned to at most ``max_points`` (every k-th row).

        One statement counts and thins, so a writer adding rows meanwhile cannot push the result over
        ``max_points``, and logging every N steps thins as evenly as logging every step.
        """
        max_points = max(1, int(max_points))
        base = (select(FinetuneMetric.step.label("step"), FinetuneMetric.value.label("value"),
                       func.row_number().over(order_by=FinetuneMetric.step).label("rn"),
                       func.count().over().label("n"))
                .where(FinetuneMetric.run_id == run_id, FinetuneMetric.key == key)).subquery()
        stride = (base.c.n + max_points - 1) // max_points
        stmt = (select(base.c.step, base.c.value)
                .where((base.c.rn - 1) % stride == 0)
                .order_by(base.c.step))
        with self.db.session() as s:
            return [(int(a), float(b)) for a, b in s.execute(stmt)]

    def metric_keys(self, run_id: str) -> list[str]:
        with self.db.session() as s:
            return sorted(s.scalars(select(FinetuneMetricLatest.key).where(
                FinetuneMetricLatest.run_id == run_id)))

    # -- artifacts -------------------------------------------------------------------------
    def add_checkpoint(self, run_id: str, step: int, path: str) -> None:
        with self.db.session() as s:
            s.add(FinetuneCheckpoint(run_id=run_id, step=step, path=path))
            s.add(FinetuneEvent(run_id=run_id, kind="checkpoint", message=f"step {step}: {path}"))

    def remove_checkpoint(self, run_id: str, path: str) -> None:
        with self.db.session() as s:
            s.execute(delete(FinetuneCheckpoint).where(
                FinetuneCheckpoint.run_id == run_id, FinetuneCheckpoint.path == path))

    def checkpoints(self, run_id: str) -> list[tuple[int, str]]:
        with self.db.session() as s:
            return [(int(a), b) for a, b in s.execute(
                select(FinetuneCheckpoint.step, FinetuneCheckpoint.path)
                .where(FinetuneCheckpoint.run_id == run_id).order_by(FinetuneCheckpoint.step))]

    def add_samples(self, run_id: str, step: int, items: list[tuple[str, str]]) -> None:
        """Record the (prompt, image path) pairs drawn at ``step``."""
        with self.db.session() as s:
            s.execute(insert(FinetuneSample), [
                {"run_id": run_id, "step": step, "prompt": p, "image_path": path, "created_at": utcnow()}
                for p, path in items
            ])

    def samples(self, run_id: str) -> list[tuple[int, str, str]]:
        with self.db.session() as s:
            return [(int(a), b, c) for a, b, c in s.execute(
                select(FinetuneSample.step, FinetuneSample.prompt, FinetuneSample.image_path)
                .where(FinetuneSample.run_id == run_id).order_by(FinetuneSample.step, FinetuneSample.id))]


class MetricWriter:
    """Buffers metric values and writes them in one short transaction per batch.

    A batch is flushed when ``max_rows`` values are waiting or ``interval_s`` passed since the
    last flush; each flush also moves the run's step and heartbeat forward.
    """

    def __init__(self, db: Database, run_id: str, *, max_rows: int = 500, interval_s: float = 2.0) -> None:
        self.db = db
        self.run_id = run_id
        self.max_rows = max_rows
        self.interval_s = interval_s
        self._rows: list[dict[str, Any]] = []
        self._last_flush = time.monotonic()
        self._step = 0

    def log(self, step: int, values: dict[str, float]) -> None:
        now = time.time()
        self._step = max(self._step, int(step))
        for key, value in values.items():
            self._rows.append({"run_id": self.run_id, "key": key, "step": int(step),
                               "value": float(value), "wall_time": now})
        if len(self._rows) >= self.max_rows or time.monotonic() - self._last_flush >= self.interval_s:
            self.flush()

    def flush(self, step: int | None = None) -> None:
        """Write waiting values, the latest value per key, the run's step and a heartbeat."""
        rows, self._rows = self._rows, []
        self._last_flush = time.monotonic()
        if step is not None:
            self._step = max(self._step, int(step))
        latest: dict[str, dict[str, Any]] = {}
        for row in rows:
            cur = latest.get(row["key"])
            if cur is None or row["step"] >= cur["step"]:
                latest[row["key"]] = row
        with self.db.session() as s:
            if rows:
                s.execute(insert(FinetuneMetric), rows)
                s.execute(_upsert_latest(self.db, list(latest.values())))
            s.execute(update(FinetuneRun).where(FinetuneRun.id == self.run_id)
                      .values(step=self._step, heartbeat_at=utcnow()))
