"""Arena: open arenas (settings beside their comparison batch) and their output cache, one image per
(arena, prompt, backend, seed).

Revision ID: arena_0002
Revises: arena_0001
"""
import sqlalchemy as sa
from alembic import op

revision = "arena_0002"
down_revision = "arena_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "arena_open_arenas",
        sa.Column("batch_id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("task", sa.String(32), nullable=False),
        sa.Column("backends", sa.JSON, nullable=False),
        sa.Column("prompts", sa.JSON, nullable=False),
        sa.Column("source", sa.JSON, nullable=False),
        sa.Column("seeds", sa.Integer, nullable=False),
        sa.Column("seed", sa.Integer, nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("policy", sa.String(16), nullable=False),
        sa.Column("buffer", sa.Integer, nullable=False),
        sa.Column("time_limit_s", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("batch_id", name="pk_arena_open_arenas"),
        sa.ForeignKeyConstraint(["batch_id"], ["annotation_batches.id"],
                                name="fk_arena_open_arenas_batch_id_annotation_batches", ondelete="CASCADE"),
    )
    op.create_table(
        "arena_outputs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("arena_id", sa.String(32), nullable=False),
        sa.Column("prompt_index", sa.Integer, nullable=False),
        sa.Column("backend", sa.String(128), nullable=False),
        sa.Column("seed", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("image", sa.String(64), nullable=True),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_arena_outputs"),
        sa.ForeignKeyConstraint(["arena_id"], ["arena_open_arenas.batch_id"],
                                name="fk_arena_outputs_arena_id_arena_open_arenas", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["image"], ["images.sha256"], name="fk_arena_outputs_image_images"),
        sa.UniqueConstraint("arena_id", "prompt_index", "backend", "seed", name="uq_arena_outputs_arena_id"),
    )


def downgrade() -> None:
    op.drop_table("arena_outputs")
    op.drop_table("arena_open_arenas")
