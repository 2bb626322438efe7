"""Arena: admins' decisions to leave an annotator's votes out of the boards (facts, never updated).

Revision ID: arena_0001
Revises: 0001_foundation
"""
import sqlalchemy as sa
from alembic import op

revision = "arena_0001"
down_revision = "0001_foundation"
branch_labels = ("arena",)
depends_on = "annotation_0003"


def upgrade() -> None:
    op.create_table(
        "arena_board_exclusions",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("annotator", sa.String(128), nullable=False),
        sa.Column("excluded", sa.Boolean, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("decided_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_arena_board_exclusions"),
    )


def downgrade() -> None:
    op.drop_table("arena_board_exclusions")
