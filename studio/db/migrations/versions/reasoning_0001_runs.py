"""Reasoning runs (Reason tab).

Revision ID: reasoning_0001
Revises: 0001_foundation
"""
import sqlalchemy as sa
from alembic import op

revision = "reasoning_0001"
down_revision = "0001_foundation"
branch_labels = ("reasoning",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reasoning_runs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mode", sa.String(32), nullable=False),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("input_image", sa.String(64), nullable=True),
        sa.Column("reasoner", sa.String(128), nullable=True),
        sa.Column("image_backend", sa.String(128), nullable=True),
        sa.Column("critic", sa.String(128), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("rationale", sa.Text, nullable=False),
        sa.Column("segments", sa.JSON, nullable=False),
        sa.Column("rounds", sa.JSON, nullable=False),
        sa.Column("final_answer", sa.Text, nullable=True),
        sa.Column("final_image", sa.String(64), nullable=True),
        sa.Column("timings", sa.JSON, nullable=False),
        sa.Column("notices", sa.JSON, nullable=False),
        sa.Column("llm", sa.JSON, nullable=False),
        sa.Column("sample_id", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_reasoning_runs"),
        sa.ForeignKeyConstraint(
            ["input_image"], ["images.sha256"], name="fk_reasoning_runs_input_image_images"
        ),
        sa.ForeignKeyConstraint(
            ["final_image"], ["images.sha256"], name="fk_reasoning_runs_final_image_images"
        ),
    )
    op.create_index("ix_reasoning_runs_created_at", "reasoning_runs", ["created_at"])
    op.create_index("ix_reasoning_runs_mode", "reasoning_runs", ["mode"])


def downgrade() -> None:
    op.drop_table("reasoning_runs")
