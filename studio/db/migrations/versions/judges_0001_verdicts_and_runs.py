"""Judges: AI verdicts on comparison items, evaluation runs and their items.

Revision ID: judges_0001
Revises: 0001_foundation
"""
import sqlalchemy as sa
from alembic import op

revision = "judges_0001"
down_revision = "0001_foundation"
branch_labels = ("judges",)
depends_on = "annotation_0001"


def upgrade() -> None:
    op.create_table(
        "judge_verdicts",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("batch_id", sa.String(32), nullable=False),
        sa.Column("item_id", sa.String(32), nullable=False),
        sa.Column("judge", sa.String(128), nullable=False),
        sa.Column("criterion", sa.String(40), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("winner", sa.String(16), nullable=True),
        sa.Column("consistent", sa.Boolean, nullable=True),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_judge_verdicts"),
        sa.ForeignKeyConstraint(["item_id"], ["annotation_items.id"],
                                name="fk_judge_verdicts_item_id_annotation_items", ondelete="CASCADE"),
        sa.UniqueConstraint("item_id", "judge", "criterion", name="uq_judge_verdicts_item_id"),
    )
    op.create_index("ix_judge_verdicts_batch_id", "judge_verdicts", ["batch_id"])
    op.create_table(
        "judge_eval_runs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("judge", sa.String(128), nullable=False),
        sa.Column("rubric", sa.String(40), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("calls", sa.Integer, nullable=False),
        sa.Column("prompt_tokens", sa.Integer, nullable=False),
        sa.Column("completion_tokens", sa.Integer, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_judge_eval_runs"),
        sa.UniqueConstraint("name", name="uq_judge_eval_runs_name"),
    )
    op.create_table(
        "judge_eval_items",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("backend", sa.String(128), nullable=False),
        sa.Column("prompt", sa.Text, nullable=False),
        sa.Column("taxonomy_id", sa.String(255), nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=True),
        sa.Column("image", sa.String(64), nullable=True),
        sa.Column("scores", sa.JSON, nullable=False),
        sa.Column("overall", sa.Float, nullable=True),
        sa.Column("reasoning", sa.Text, nullable=False),
        sa.Column("raw", sa.Text, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_judge_eval_items"),
        sa.ForeignKeyConstraint(["run_id"], ["judge_eval_runs.id"],
                                name="fk_judge_eval_items_run_id_judge_eval_runs", ondelete="CASCADE"),
        sa.UniqueConstraint("run_id", "position", name="uq_judge_eval_items_run_id"),
    )
    op.create_index("ix_judge_eval_items_run_id", "judge_eval_items", ["run_id"])
    op.create_index("ix_judge_eval_items_state", "judge_eval_items", ["state"])


def downgrade() -> None:
    op.drop_table("judge_eval_items")
    op.drop_table("judge_eval_runs")
    op.drop_table("judge_verdicts")
