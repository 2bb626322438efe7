"""Fine-tuning run tracker: runs, params, metrics (+ latest values), checkpoints, samples, events.

Revision ID: finetune_0001
Revises: 0001_foundation
"""
import sqlalchemy as sa
from alembic import op

revision = "finetune_0001"
down_revision = "0001_foundation"
branch_labels = ("finetune",)
depends_on = None

ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _run_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["run_id"], ["finetune_runs.id"], name=f"fk_{table}_run_id_finetune_runs", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "finetune_runs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("task", sa.String(32), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("base_model", sa.String(512), nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pid", sa.Integer, nullable=True),
        sa.Column("host", sa.String(255), nullable=True),
        sa.Column("device", sa.String(32), nullable=False),
        sa.Column("command", sa.Text, nullable=False),
        sa.Column("output_dir", sa.String(1024), nullable=False),
        sa.Column("log_path", sa.String(1024), nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("total_steps", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("stop_requested", sa.Boolean, nullable=False),
        sa.Column("result_path", sa.String(1024), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_finetune_runs"),
        sa.CheckConstraint(
            "status IN ('queued','starting','running','stopping','stopped','completed','failed')",
            name="ck_finetune_runs_status",
        ),
    )
    op.create_index("ix_finetune_runs_status", "finetune_runs", ["status"])
    op.create_index("ix_finetune_runs_created_at", "finetune_runs", ["created_at"])
    op.create_table(
        "finetune_params",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "key", name="pk_finetune_params"),
        _run_fk("finetune_params"),
    )
    op.create_table(
        "finetune_metrics",
        sa.Column("id", ROW_ID, nullable=False, autoincrement=True),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("wall_time", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_finetune_metrics"),
        _run_fk("finetune_metrics"),
    )
    op.create_index("ix_finetune_metrics_run_key_step", "finetune_metrics", ["run_id", "key", "step"])
    op.create_table(
        "finetune_metric_latest",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("wall_time", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "key", name="pk_finetune_metric_latest"),
        _run_fk("finetune_metric_latest"),
    )
    op.create_table(
        "finetune_checkpoints",
        sa.Column("id", ROW_ID, nullable=False, autoincrement=True),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_finetune_checkpoints"),
        _run_fk("finetune_checkpoints"),
    )
    op.create_index("ix_finetune_checkpoints_run_id", "finetune_checkpoints", ["run_id"])
    op.create_table(
        "finetune_samples",
        sa.Column("id", ROW_ID, nullable=False, autoincrement=True),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("prompt", sa.Text, nullable=False),
        sa.Column("image_path", sa.String(1024), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_finetune_samples"),
        _run_fk("finetune_samples"),
    )
    op.create_index("ix_finetune_samples_run_id", "finetune_samples", ["run_id"])
    op.create_table(
        "finetune_events",
        sa.Column("id", ROW_ID, nullable=False, autoincrement=True),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_finetune_events"),
        _run_fk("finetune_events"),
    )
    op.create_index("ix_finetune_events_run_id", "finetune_events", ["run_id"])


def downgrade() -> None:
    for table in ("finetune_events", "finetune_samples", "finetune_checkpoints",
                  "finetune_metric_latest", "finetune_metrics", "finetune_params", "finetune_runs"):
        op.drop_table(table)
