"""Run-tracker tables: runs, params, metrics (with a latest-value table), checkpoints, samples, events.

Metrics are appended in batches by the training process; ``finetune_metric_latest`` keeps one row
per (run, key) so listings stay fast however many metric rows a run has.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from studio.db.base import Base, new_id, utcnow

#: every status a run can be in; "queued" waits for the device, "stopping" waits for a checkpoint
RUN_STATUSES = ("queued", "starting", "running", "stopping", "stopped", "completed", "failed")
ACTIVE_STATUSES = ("starting", "running", "stopping")
FINISHED_STATUSES = ("stopped", "completed", "failed")

#: a 64-bit id that is still SQLite's rowid (autoincrementing) there
RowId = BigInteger().with_variant(Integer(), "sqlite")


class FinetuneRun(Base):
    __tablename__ = "finetune_runs"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued','starting','running','stopping','stopped','completed','failed')",
            name="status",
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), index=True, default="queued")
    task: Mapped[str] = mapped_column(String(32))
    method: Mapped[str] = mapped_column(String(16))
    base_model: Mapped[str] = mapped_column(String(512))
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    #: "cpu", "cuda", "cuda:0" ... — runs on the same device queue behind each other
    device: Mapped[str] = mapped_column(String(32), default="cpu")
    command: Mapped[str] = mapped_column(Text, default="")
    output_dir: Mapped[str] = mapped_column(String(1024))
    log_path: Mapped[str] = mapped_column(String(1024))
    step: Mapped[int] = mapped_column(Integer, default=0)
    total_steps: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    stop_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    #: the directory of the final adapter or weights once the run completed
    result_path: Mapped[str | None] = mapped_column(String(1024), nullable=True)


class FinetuneParam(Base):
    """Flat hyperparameters of a run (for the compare table and filtering)."""

    __tablename__ = "finetune_params"

    run_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("finetune_runs.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class FinetuneMetric(Base):
    __tablename__ = "finetune_metrics"
    __table_args__ = (Index("ix_finetune_metrics_run_key_step", "run_id", "key", "step"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(32), ForeignKey("finetune_runs.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64))
    step: Mapped[int] = mapped_column(Integer)
    value: Mapped[float] = mapped_column(Float)
    #: seconds since the epoch when the value was logged (cheap to write in bulk)
    wall_time: Mapped[float] = mapped_column(Float)


class FinetuneMetricLatest(Base):
    __tablename__ = "finetune_metric_latest"

    run_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("finetune_runs.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    step: Mapped[int] = mapped_column(Integer)
    value: Mapped[float] = mapped_column(Float)
    wall_time: Mapped[float] = mapped_column(Float)


class FinetuneCheckpoint(Base):
    __tablename__ = "finetune_checkpoints"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("finetune_runs.id", ondelete="CASCADE"), index=True
    )
    step: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(String(1024))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FinetuneSample(Base):
    """An image the run drew for a sample prompt at a sampling step (step 0 = before training)."""

    __tablename__ = "finetune_samples"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("finetune_runs.id", ondelete="CASCADE"), index=True
    )
    step: Mapped[int] = mapped_column(Integer)
    prompt: Mapped[str] = mapped_column(Text)
    image_path: Mapped[str] = mapped_column(String(1024))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FinetuneEvent(Base):
    """Something that happened to a run: launched, resumed, checkpoint, stop requested, failed …"""

    __tablename__ = "finetune_events"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("finetune_runs.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    kind: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text, default="")
