"""The table of reasoning runs: one row per run of the Reason tab, whatever its outcome."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from studio.db.base import Base, new_id, utcnow


class ReasoningRun(Base):
    """A question, the rationale the reasoner wrote, the images rendered for it, backends and timings."""

    __tablename__ = "reasoning_runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    #: implicit | mm_text | mm_image | mm_regions | correction | edit
    mode: Mapped[str] = mapped_column(String(32), index=True)
    question: Mapped[str] = mapped_column(Text, default="")
    input_image: Mapped[str | None] = mapped_column(String(64), ForeignKey("images.sha256"), nullable=True)
    #: the chat backend that wrote the rationale; None when the user pasted it
    reasoner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    image_backend: Mapped[str | None] = mapped_column(String(128), nullable=True)
    #: the vision-language backend that critiqued images (image correction)
    critic: Mapped[str | None] = mapped_column(String(128), nullable=True)
    #: done | partial | failed | refused | not-converged
    status: Mapped[str] = mapped_column(String(32))
    #: everything the reasoner (or the user) wrote, verbatim
    rationale: Mapped[str] = mapped_column(Text, default="")
    #: the interleaved view in order: [{"kind", "text", "status", "image", "error", ...}]
    segments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    #: image correction rounds: [{"round", "prompt", "image", "critique", "verdict"}]
    rounds: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    final_answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    final_image: Mapped[str | None] = mapped_column(String(64), ForeignKey("images.sha256"), nullable=True)
    #: seconds: reasoner, first_image, total, per image
    timings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    notices: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: per chat call: backend, model, tokens, latency
    llm: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    #: the sample this run was exported as, once exported
    sample_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
