"""Annotation: comparison batches, items, assignments and pairwise votes.

Revision ID: annotation_0001
Revises: 0001_foundation
"""
import sqlalchemy as sa
from alembic import op

revision = "annotation_0001"
down_revision = "0001_foundation"
branch_labels = ("annotation",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "annotation_batches",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("overlap", sa.Integer, nullable=False),
        sa.Column("criteria", sa.JSON, nullable=False),
        sa.Column("guidelines", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_annotation_batches"),
        sa.UniqueConstraint("name", name="uq_annotation_batches_name"),
    )
    op.create_table(
        "annotation_items",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("batch_id", sa.String(32), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("item_key", sa.String(255), nullable=True),
        sa.Column("task", sa.String(32), nullable=False),
        sa.Column("prompt", sa.Text, nullable=False),
        sa.Column("source_image", sa.String(64), nullable=True),
        sa.Column("output_a", sa.String(64), nullable=False),
        sa.Column("model_a", sa.String(128), nullable=False),
        sa.Column("output_b", sa.String(64), nullable=False),
        sa.Column("model_b", sa.String(128), nullable=False),
        sa.Column("taxonomy_id", sa.String(255), nullable=True),
        sa.Column("provenance", sa.JSON, nullable=False),
        sa.Column("active", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_annotation_items"),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["annotation_batches.id"],
            name="fk_annotation_items_batch_id_annotation_batches", ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["source_image"], ["images.sha256"], name="fk_annotation_items_source_image_images"),
        sa.ForeignKeyConstraint(["output_a"], ["images.sha256"], name="fk_annotation_items_output_a_images"),
        sa.ForeignKeyConstraint(["output_b"], ["images.sha256"], name="fk_annotation_items_output_b_images"),
        sa.UniqueConstraint("batch_id", "item_key", name="uq_annotation_items_batch_key"),
    )
    op.create_index("ix_annotation_items_batch_id", "annotation_items", ["batch_id"])
    op.create_table(
        "annotation_assignments",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("item_id", sa.String(32), nullable=False),
        sa.Column("batch_id", sa.String(32), nullable=False),
        sa.Column("annotator", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("shown_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("a_on_left", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_annotation_assignments"),
        sa.ForeignKeyConstraint(
            ["item_id"], ["annotation_items.id"],
            name="fk_annotation_assignments_item_id_annotation_items", ondelete="CASCADE",
        ),
        sa.UniqueConstraint("item_id", "annotator", name="uq_annotation_assignments_item_annotator"),
    )
    op.create_index("ix_annotation_assignments_item_id", "annotation_assignments", ["item_id"])
    op.create_index("ix_annotation_assignments_batch_id", "annotation_assignments", ["batch_id"])
    op.create_index("ix_annotation_assignments_annotator", "annotation_assignments", ["annotator"])
    op.create_index("ix_annotation_assignments_created_at", "annotation_assignments", ["created_at"])
    op.create_table(
        "annotation_votes",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("item_id", sa.String(32), nullable=False),
        sa.Column("batch_id", sa.String(32), nullable=False),
        sa.Column("assignment_id", sa.String(32), nullable=False),
        sa.Column("annotator", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("shown_choice", sa.String(16), nullable=False),
        sa.Column("a_on_left", sa.Boolean, nullable=False),
        sa.Column("winner", sa.String(16), nullable=False),
        sa.Column("criteria", sa.JSON, nullable=False),
        sa.Column("latency_ms", sa.Integer, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_annotation_votes"),
        sa.ForeignKeyConstraint(
            ["item_id"], ["annotation_items.id"],
            name="fk_annotation_votes_item_id_annotation_items", ondelete="CASCADE",
        ),
        sa.UniqueConstraint("item_id", "annotator", name="uq_annotation_votes_item_annotator"),
    )
    op.create_index("ix_annotation_votes_item_id", "annotation_votes", ["item_id"])
    op.create_index("ix_annotation_votes_batch_id", "annotation_votes", ["batch_id"])
    op.create_index("ix_annotation_votes_annotator", "annotation_votes", ["annotator"])
    op.create_index("ix_annotation_votes_created_at", "annotation_votes", ["created_at"])


def downgrade() -> None:
    op.drop_table("annotation_votes")
    op.drop_table("annotation_assignments")
    op.drop_table("annotation_items")
    op.drop_table("annotation_batches")
