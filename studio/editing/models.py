"""Tables of the editing chat: a session (one source image, one owner) and its tree of turns."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from studio.db.base import Base, new_id, utcnow


class EditSession(Base):
    """A multi-turn edit of one source image, owned by one user.

    ``head_turn_id`` is the tip of the branch that continues (None: at the source image).
    ``version`` goes up on every change; writers compare-and-set it so two browser tabs on
    one session never overwrite each other's turns.
    """

    __tablename__ = "edit_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    owner: Mapped[str] = mapped_column(String(128), index=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    #: upload | generated | sample
    origin: Mapped[str] = mapped_column(String(16))
    #: what the origin was: a file name, a prompt, a sample id
    origin_ref: Mapped[str] = mapped_column(Text, default="")
    source_image: Mapped[str] = mapped_column(String(64), ForeignKey("images.sha256"))
    head_turn_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    turn_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class EditTurn(Base):
    """One instruction applied to the image of ``parent_id`` (None: the source image).

    ``seq`` numbers turns within a session in the order they were accepted (1, 2, ...).
    """

    __tablename__ = "edit_turns"
    __table_args__ = (UniqueConstraint("session_id", "seq", name="uq_edit_turns_session_id_seq"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    session_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("edit_sessions.id", ondelete="CASCADE"), index=True
    )
    parent_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    seq: Mapped[int] = mapped_column(Integer)
    instruction: Mapped[str] = mapped_column(Text)
    backend: Mapped[str] = mapped_column(String(128))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    input_image: Mapped[str] = mapped_column(String(64))
    mask_image: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reference_images: Mapped[list[str]] = mapped_column(JSON, default=list)
    output_image: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: 1-bit PNG: every pixel a turn on the path up to here edited on purpose (for drift)
    edited_region: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: running | done | failed
    status: Mapped[str] = mapped_column(String(16), default="running")
    error: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    honored: Mapped[list[str]] = mapped_column(JSON, default=list)
    ignored: Mapped[list[str]] = mapped_column(JSON, default=list)
    notices: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: {"ssim", "psnr", "outside_fraction", "note"} against the session's source image
    drift: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: when the current attempt started (a retry restarts it)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
