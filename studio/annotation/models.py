"""Tables of the annotation area: comparison batches, their items, assignments and votes.

A *batch* is a set of comparison *items* (one prompt, optional source image, two outputs with their
model names). An *assignment* records that one annotator was shown one item, with the left/right
order drawn for that annotator. Votes and retractions are facts, only ever added: a *vote* (or skip)
is one row per (item, annotator); a *retraction* (an undo) names the vote it withdraws. Results,
progress and ratings count the votes without a retraction.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from studio.db.base import Base, new_id, utcnow


class ComparisonBatch(Base):
    """A named set of comparisons with its annotation settings (overlap, criteria, guidelines)."""

    __tablename__ = "annotation_batches"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: how many annotators should judge each item
    overlap: Mapped[int] = mapped_column(Integer, default=1)
    #: criteria asked, e.g. ["overall"] or ["overall", "instruction_fidelity", "visual_quality"]
    criteria: Mapped[list[str]] = mapped_column(JSON, default=list)
    guidelines: Mapped[str] = mapped_column(Text, default="")
    #: open (annotators get items) | closed
    status: Mapped[str] = mapped_column(String(16), default="open")
    #: how the batch was made (generation plan for resume, import source ...)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ComparisonItem(Base):
    """One prompt (and source image for edits) with two outputs and the models that made them."""

    __tablename__ = "annotation_items"
    __table_args__ = (
        UniqueConstraint("batch_id", "item_key", name="uq_annotation_items_batch_key"),
        # the vote path's candidates (free items in offering order) and the count of items with room
        Index("ix_annotation_items_batch_active", "batch_id", "active", "position"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    batch_id: Mapped[str] = mapped_column(String(32), ForeignKey("annotation_batches.id", ondelete="CASCADE"))
    #: order within the batch (items are offered lowest first among equally covered ones)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: a caller-chosen key unique within the batch (generation resume, import de-duplication)
    item_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    #: text-to-image | edit
    task: Mapped[str] = mapped_column(String(32))
    prompt: Mapped[str] = mapped_column(Text, default="")
    source_image: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("images.sha256"), nullable=True
    )
    output_a: Mapped[str] = mapped_column(String(64), ForeignKey("images.sha256"))
    model_a: Mapped[str] = mapped_column(String(128))
    output_b: Mapped[str] = mapped_column(String(64), ForeignKey("images.sha256"))
    model_b: Mapped[str] = mapped_column(String(128))
    taxonomy_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    provenance: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: assignments currently holding a slot (open or voted); never above the batch overlap
    active: Mapped[int] = mapped_column(Integer, default=0)


class Assignment(Base):
    """An item shown to one annotator, with the side the item's output A was placed on."""

    __tablename__ = "annotation_assignments"
    __table_args__ = (
        UniqueConstraint("item_id", "annotator", name="uq_annotation_assignments_item_annotator"),
        # one annotator's assignments in a batch (what they saw, what they hold open) without a batch scan
        Index("ix_annotation_assignments_batch_annotator", "batch_id", "annotator", "status"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    # (item_id, annotator) and (batch_id, annotator, ...) indexes below also serve item_id and batch_id alone
    item_id: Mapped[str] = mapped_column(String(32), ForeignKey("annotation_items.id", ondelete="CASCADE"))
    batch_id: Mapped[str] = mapped_column(String(32))
    annotator: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: when the item was last put in front of the annotator (vote latency counts from here)
    shown_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: True when the item's output A is shown on the left (labelled "A" to the annotator)
    a_on_left: Mapped[bool] = mapped_column(Boolean)
    #: open | voted | skipped | expired | retracted (the annotator undid their vote: never shown to them again)
    status: Mapped[str] = mapped_column(String(16), default="open")


class PairwiseVote(Base):
    """One committed judgement; unique per (item, annotator). ``winner`` is from the item's side."""

    __tablename__ = "annotation_votes"
    __table_args__ = (
        UniqueConstraint("item_id", "annotator", name="uq_annotation_votes_item_annotator"),
        # one annotator's votes in a batch, and a batch's votes by outcome, counted from the index alone
        Index("ix_annotation_votes_batch_annotator", "batch_id", "annotator"),
        Index("ix_annotation_votes_batch_winner", "batch_id", "winner"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    # (item_id, annotator) and (batch_id, annotator, ...) indexes below also serve item_id and batch_id alone
    item_id: Mapped[str] = mapped_column(String(32), ForeignKey("annotation_items.id", ondelete="CASCADE"))
    batch_id: Mapped[str] = mapped_column(String(32))
    assignment_id: Mapped[str] = mapped_column(String(32))
    annotator: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: what was clicked: left | right | tie | tie_bad | skip (left is the side labelled "A")
    shown_choice: Mapped[str] = mapped_column(String(16))
    a_on_left: Mapped[bool] = mapped_column(Boolean)
    #: model_a | model_b | tie | tie (bothbad) | skip — for the first criterion
    winner: Mapped[str] = mapped_column(String(16))
    #: criterion -> winner, for every criterion of the batch
    criteria: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    #: milliseconds between the item being shown and the vote
    latency_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Retraction(Base):
    """An undo: the vote it withdraws stays on record; statistics leave it out."""

    __tablename__ = "annotation_retractions"
    __table_args__ = (
        # one annotator's retractions in a batch (their progress)
        Index("ix_annotation_retractions_batch_annotator", "batch_id", "annotator"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    vote_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("annotation_votes.id", ondelete="CASCADE"), unique=True
    )
    batch_id: Mapped[str] = mapped_column(String(32))
    annotator: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
