"""Tables of the synthesis area: batches and their items.

A batch is a planned list of items (one row each, with the planned prompt spec); every item's state
lives in the database so a batch survives a closed browser, a cancel, a crash or a restart: the
runner only ever picks up items that are not done, and a finished item's sample is written in the
same transaction that marks it done (no duplicates, nothing lost).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from studio.db.base import Base, new_id, utcnow

BATCH_STATES = ("pending", "running", "cancelling", "cancelled", "interrupted", "done", "failed")
ITEM_STATES = ("pending", "running", "done", "failed")


class SynthesisBatch(Base):
    """One synthesis job: its settings, status, heartbeat and LLM usage counters."""

    __tablename__ = "synthesis_batches"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    name: Mapped[str] = mapped_column(String(128), default="")
    dataset: Mapped[str] = mapped_column(String(128), default="default")
    method: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    #: the request the batch was planned from (nodes, count, seed, mix, backends, limits)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    total: Mapped[int] = mapped_column(Integer, default=0)
    #: who runs it now ("pid@host") and when it last said so; a stale heartbeat means it died
    runner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    llm_calls: Mapped[int] = mapped_column(Integer, default=0)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class SynthesisItem(Base):
    """One planned sample of a batch; ``spec`` is the preview row it was planned from."""

    __tablename__ = "synthesis_items"
    __table_args__ = (UniqueConstraint("batch_id", "position"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    batch_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("synthesis_batches.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    taxonomy_id: Mapped[str] = mapped_column(String(255))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: what an LLM answered (kept for failed items too, so a bad answer can be inspected)
    raw_output: Mapped[str | None] = mapped_column(Text, nullable=True)
    sample_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
