"""Tables of the judges area: an AI judge's verdicts on comparison items (kept apart from the human
votes), and evaluation runs with one row per (backend, prompt) item.

Both are resumable: a row is written once its judgement is final, in one transaction; a rerun only
does rows that are missing or failed, so a killed run resumes with no duplicate and nothing lost.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from studio.db.base import Base, new_id, utcnow


class JudgeVerdict(Base):
    """One judge's verdict on one comparison item for one criterion (both orders asked)."""

    __tablename__ = "judge_verdicts"
    __table_args__ = (UniqueConstraint("item_id", "judge", "criterion"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    batch_id: Mapped[str] = mapped_column(String(32), index=True)
    item_id: Mapped[str] = mapped_column(String(32), ForeignKey("annotation_items.id", ondelete="CASCADE"))
    #: the judge's name; it votes as the AI annotator "ai:<judge>"
    judge: Mapped[str] = mapped_column(String(128))
    criterion: Mapped[str] = mapped_column(String(40))
    #: ok | unparseable | refused | failed | unscorable (only ok counts; failed is retried)
    status: Mapped[str] = mapped_column(String(16))
    #: model_a | model_b | tie from the item's side; a verdict that flipped with the order is a tie
    winner: Mapped[str | None] = mapped_column(String(16), nullable=True)
    consistent: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    #: both orders' answers (raw text, reasoning, attempts, usage)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class EvalRun(Base):
    """Backends × prompt set × judge: settings, status and the API judge's usage."""

    __tablename__ = "judge_eval_runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    judge: Mapped[str] = mapped_column(String(128))
    rubric: Mapped[str] = mapped_column(String(40))
    #: pending | running | done | failed (items failed) | interrupted
    status: Mapped[str] = mapped_column(String(16), default="pending")
    #: backends, prompt-set source, image size, seed
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    total: Mapped[int] = mapped_column(Integer, default=0)
    calls: Mapped[int] = mapped_column(Integer, default=0)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)


class EvalItem(Base):
    """One backend's output for one prompt and the judge's score of it."""

    __tablename__ = "judge_eval_items"
    __table_args__ = (UniqueConstraint("run_id", "position"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    run_id: Mapped[str] = mapped_column(String(32), ForeignKey("judge_eval_runs.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    backend: Mapped[str] = mapped_column(String(128))
    prompt: Mapped[str] = mapped_column(Text)
    taxonomy_id: Mapped[str] = mapped_column(String(255), default="")
    #: GenEval metadata, source image hashes, seed
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: pending | done | failed (generation or judge call failed; "Retry failed" puts it back to pending)
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    #: the judge's status: ok | unparseable | refused | failed | unscorable
    status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    image: Mapped[str | None] = mapped_column(String(64), nullable=True)
    scores: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    overall: Mapped[float | None] = mapped_column(Float, nullable=True)
    reasoning: Mapped[str] = mapped_column(Text, default="")
    raw: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
