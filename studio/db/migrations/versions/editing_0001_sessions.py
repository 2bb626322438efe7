"""Editing chat: sessions and their tree of turns.

Revision ID: editing_0001
Revises: 0001_foundation
"""
import sqlalchemy as sa
from alembic import op

revision = "editing_0001"
down_revision = "0001_foundation"
branch_labels = ("editing",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "edit_sessions",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("origin_ref", sa.Text, nullable=False),
        sa.Column("source_image", sa.String(64), nullable=False),
        sa.Column("head_turn_id", sa.String(32), nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("turn_count", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_edit_sessions"),
        sa.ForeignKeyConstraint(
            ["source_image"], ["images.sha256"], name="fk_edit_sessions_source_image_images"
        ),
    )
    op.create_index("ix_edit_sessions_owner", "edit_sessions", ["owner"])
    op.create_index("ix_edit_sessions_updated_at", "edit_sessions", ["updated_at"])
    op.create_table(
        "edit_turns",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("session_id", sa.String(32), nullable=False),
        sa.Column("parent_id", sa.String(32), nullable=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("instruction", sa.Text, nullable=False),
        sa.Column("backend", sa.String(128), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("input_image", sa.String(64), nullable=False),
        sa.Column("mask_image", sa.String(64), nullable=True),
        sa.Column("reference_images", sa.JSON, nullable=False),
        sa.Column("output_image", sa.String(64), nullable=True),
        sa.Column("edited_region", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("honored", sa.JSON, nullable=False),
        sa.Column("ignored", sa.JSON, nullable=False),
        sa.Column("notices", sa.JSON, nullable=False),
        sa.Column("drift", sa.JSON, nullable=True),
        sa.Column("duration_s", sa.Float, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_edit_turns"),
        sa.ForeignKeyConstraint(
            ["session_id"], ["edit_sessions.id"], name="fk_edit_turns_session_id_edit_sessions",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("session_id", "seq", name="uq_edit_turns_session_id_seq"),
    )
    op.create_index("ix_edit_turns_session_id", "edit_turns", ["session_id"])


def downgrade() -> None:
    op.drop_table("edit_turns")
    op.drop_table("edit_sessions")
