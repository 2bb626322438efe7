"""Annotation: undo as a fact. A retraction names the vote it withdraws; the vote stays on record.

Revision ID: annotation_0004
Revises: annotation_0003
"""
import sqlalchemy as sa
from alembic import op

revision = "annotation_0004"
down_revision = "annotation_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "annotation_retractions",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("vote_id", sa.String(32), nullable=False),
        sa.Column("batch_id", sa.String(32), nullable=False),
        sa.Column("annotator", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_annotation_retractions"),
        sa.ForeignKeyConstraint(
            ["vote_id"], ["annotation_votes.id"],
            name="fk_annotation_retractions_vote_id_annotation_votes", ondelete="CASCADE",
        ),
        sa.UniqueConstraint("vote_id", name="uq_annotation_retractions_vote_id"),
    )
    op.create_index("ix_annotation_retractions_batch_annotator", "annotation_retractions",
                    ["batch_id", "annotator"])


def downgrade() -> None:
    op.drop_index("ix_annotation_retractions_batch_annotator", table_name="annotation_retractions")
    op.drop_table("annotation_retractions")
