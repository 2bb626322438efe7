"""Arena: a failed output is tried again later; each output counts its tries.

Revision ID: arena_0003
Revises: arena_0002
"""
import sqlalchemy as sa
from alembic import op

revision = "arena_0003"
down_revision = "arena_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("arena_outputs") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("arena_outputs") as batch:
        batch.drop_column("attempts")
