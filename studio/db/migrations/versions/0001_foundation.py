"""Shared tables: content-addressed images and samples.

Revision ID: 0001_foundation
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001_foundation"
down_revision = None
branch_labels = ("foundation",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "images",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("rel_path", sa.String(255), nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("size_bytes", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name="pk_images"),
    )
    op.create_table(
        "samples",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("task", sa.String(32), nullable=False),
        sa.Column("taxonomy_id", sa.String(255), nullable=True),
        sa.Column("prompt", sa.Text, nullable=False),
        sa.Column("input_images", sa.JSON, nullable=False),
        sa.Column("output_image", sa.String(64), nullable=True),
        sa.Column("turns", sa.JSON, nullable=True),
        sa.Column("attributes", sa.JSON, nullable=False),
        sa.Column("seed", sa.Integer, nullable=True),
        sa.Column("backend", sa.String(128), nullable=True),
        sa.Column("method", sa.String(32), nullable=True),
        sa.Column("difficulty", sa.Integer, nullable=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("dataset", sa.String(128), nullable=False),
        sa.Column("provenance", sa.JSON, nullable=False),
        sa.Column("llm", sa.JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_samples"),
        sa.ForeignKeyConstraint(
            ["output_image"], ["images.sha256"], name="fk_samples_output_image_images"
        ),
    )
    op.create_index("ix_samples_created_at", "samples", ["created_at"])
    op.create_index("ix_samples_task", "samples", ["task"])
    op.create_index("ix_samples_taxonomy_id", "samples", ["taxonomy_id"])
    op.create_index("ix_samples_dataset", "samples", ["dataset"])


def downgrade() -> None:
    op.drop_table("samples")
    op.drop_table("images")
