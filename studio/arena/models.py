"""Tables of the arena area: admins' decisions to leave an annotator's votes out of the boards.

Each decision is a fact (a row, never updated): the latest one per annotator says whether their votes
count. The votes themselves are never touched.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from studio.db.base import Base, new_id, utcnow


class BoardExclusion(Base):
    """An admin left an annotator's votes out of the boards (``excluded``) or took them back in."""

    __tablename__ = "arena_board_exclusions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    annotator: Mapped[str] = mapped_column(String(128))
    excluded: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
