"""Synthesis batches and their items (state per item, so batches resume after a crash).

Revision ID: synthesis_0001
Revises: 0001_foundation
"""
import sqlalchemy as sa
from alembic import op

revision = "synthesis_0001"
down_revision = "0001_foundation"
branch_labels = ("synthesis",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "synthesis_batches",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("dataset", sa.String(128), nullable=False),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("runner", sa.String(64), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("llm_calls", sa.Integer, nullable=False),
        sa.Column("prompt_tokens", sa.Integer, nullable=False),
        sa.Column("completion_tokens", sa.Integer, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_synthesis_batches"),
    )
    op.create_index("ix_synthesis_batches_status", "synthesis_batches", ["status"])
    op.create_table(
        "synthesis_items",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("batch_id", sa.String(32), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("taxonomy_id", sa.String(255), nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("raw_output", sa.Text, nullable=True),
        sa.Column("sample_id", sa.String(32), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_synthesis_items"),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["synthesis_batches.id"],
            name="fk_synthesis_items_batch_id_synthesis_batches", ondelete="CASCADE",
        ),
        sa.UniqueConstraint("batch_id", "position", name="uq_synthesis_items_batch_id"),
    )
    op.create_index("ix_synthesis_items_batch_id", "synthesis_items", ["batch_id"])
    op.create_index("ix_synthesis_items_state", "synthesis_items", ["state"])


def downgrade() -> None:
    op.drop_table("synthesis_items")
    op.drop_table("synthesis_batches")
