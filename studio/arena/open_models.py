"""Tables of open arenas: an arena's settings beside its comparison batch, and the output cache.

An open arena *is* a comparison batch (``annotation_batches``, config ``{"kind": "open-arena"}``):
votes, blindness, undo, boards and exports are the batch's. What a fixed batch lacks is kept here:

- :class:`OpenArena`: the backends, the prompts (resolved once when the arena opens, so prompt
  ``i`` means the same text for the arena's whole life), seeds, matchmaking policy and the buffer
  of items kept ready ahead of the annotators.
- :class:`ArenaOutput`: one generated image per (arena, prompt, backend, seed). The unique key is
  the cache: a row is claimed (``generating``) before the backend runs, so no two workers in any
  process generate the same triple, and a finished row is reused by every pair that needs it. A
  failed row is claimed again after a pause (a backend that was down may be back), a few times.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from studio.db.base import Base, new_id, utcnow

#: a failed output is tried again this long after its latest try started, twice as long after each
#: further failure, up to MAX_TRIES tries in all (studio.arena.open_fill.may_retry)
RETRY_AFTER_S = 600
MAX_TRIES = 3


class OpenArena(Base):
    """The settings of one open arena; its batch holds the items and votes."""

    __tablename__ = "arena_open_arenas"

    batch_id: Mapped[str] = mapped_column(String(32), ForeignKey("annotation_batches.id", ondelete="CASCADE"),
                                          primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128), default="")
    #: text-to-image | edit
    task: Mapped[str] = mapped_column(String(32))
    backends: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: [{"prompt", "source_image", "taxonomy_id"}], index = the prompt's key in the output cache
    prompts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    #: where the prompts came from (shown in the status), e.g. {"kind": "nodes", "nodes": [...]}
    source: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: seeds per prompt (prompt i, seed index s is generated with seed + i * seeds + s)
    seeds: Mapped[int] = mapped_column(Integer, default=1)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    #: active | uniform (studio.arena.matchmaking.POLICIES)
    policy: Mapped[str] = mapped_column(String(16), default="active")
    #: items kept ready that nobody has been shown yet
    buffer: Mapped[int] = mapped_column(Integer, default=4)
    #: seconds one image may take before it counts as failed
    time_limit_s: Mapped[int] = mapped_column(Integer, default=300)


class ArenaOutput(Base):
    """One image of one backend for one prompt and seed of an arena (the generation cache)."""

    __tablename__ = "arena_outputs"
    __table_args__ = (
        UniqueConstraint("arena_id", "prompt_index", "backend", "seed", name="uq_arena_outputs_arena_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    arena_id: Mapped[str] = mapped_column(String(32), ForeignKey("arena_open_arenas.batch_id", ondelete="CASCADE"))
    prompt_index: Mapped[int] = mapped_column(Integer)
    backend: Mapped[str] = mapped_column(String(128))
    seed: Mapped[int] = mapped_column(Integer)
    #: generating | done | failed
    status: Mapped[str] = mapped_column(String(16), default="generating")
    image: Mapped[str | None] = mapped_column(String(64), ForeignKey("images.sha256"), nullable=True)
    error: Mapped[str] = mapped_column(Text, default="")
    #: when the latest try started
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: tries so far (a failed output is tried again later, up to MAX_TRIES)
    attempts: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
