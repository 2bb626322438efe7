"""Annotation: indexes for the vote path (one annotator's rows in a batch; a batch's votes by outcome).

Revision ID: annotation_0002
Revises: annotation_0001
"""
from alembic import op

revision = "annotation_0002"
down_revision = "annotation_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_annotation_assignments_batch_annotator", "annotation_assignments",
                    ["batch_id", "annotator", "status"])
    op.create_index("ix_annotation_votes_batch_annotator", "annotation_votes", ["batch_id", "annotator"])
    op.create_index("ix_annotation_votes_batch_winner", "annotation_votes", ["batch_id", "winner"])


def downgrade() -> None:
    op.drop_index("ix_annotation_votes_batch_winner", table_name="annotation_votes")
    op.drop_index("ix_annotation_votes_batch_annotator", table_name="annotation_votes")
    op.drop_index("ix_annotation_assignments_batch_annotator", table_name="annotation_assignments")
