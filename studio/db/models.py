"""Tables every area shares: stored images and samples.

A *sample* is one unit of a dataset, whichever tab made it: a text-to-image pair, an edit triplet,
a multi-turn edit, a reasoning trace. It records its taxonomy path, attributes, seed, backend and
provenance so it can be exported in the released datasets' formats plus the studio's own fields.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from studio.db.base import Base, new_id, utcnow


class StoredImage(Base):
    """An image file under ``<data_dir>/images``, addressed by the SHA-256 of its bytes."""

    __tablename__ = "images"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    rel_path: Mapped[str] = mapped_column(String(255))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(16))
    size_bytes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Sample(Base):
    __tablename__ = "samples"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    #: text-to-image | edit | multi-turn-edit | reasoning
    task: Mapped[str] = mapped_column(String(32), index=True)
    #: a taxonomy node id such as opengpt4o/gen/spatial/relative_position (None when unknown)
    taxonomy_id: Mapped[str | None] = mapped_column(String(255), index=True, nullable=True)
    #: the prompt (text-to-image) or instruction (edit)
    prompt: Mapped[str] = mapped_column(Text, default="")
    #: SHA-256 ids of input images in order (source image first, then references)
    input_images: Mapped[list[str]] = mapped_column(JSON, default=list)
    output_image: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("images.sha256"), nullable=True
    )
    #: multi-turn / interleaved content: [{"instruction", "output_image"}] or [{"type", "text"|"image"}]
    turns: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    seed: Mapped[int | None] = mapped_column(Integer, nullable=True)
    backend: Mapped[str | None] = mapped_column(String(128), nullable=True)
    #: how the prompt was made: template | attributes | llm | manual | import | edit-chat | reasoning
    method: Mapped[str | None] = mapped_column(String(32), nullable=True)
    difficulty: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: which tab/process produced it: synthesis | edit-chat | reasoning | import | annotation
    source: Mapped[str] = mapped_column(String(32), default="manual")
    #: the dataset it belongs to (a free name; exports select by it)
    dataset: Mapped[str] = mapped_column(String(128), default="default", index=True)
    provenance: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: LLM call stats when a chat model composed the text: raw output, tokens, latency
    llm: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
