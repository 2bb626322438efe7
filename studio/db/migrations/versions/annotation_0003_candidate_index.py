"""Annotation: one index that finds a batch's next items in order, and none that no query needs.

``annotation_items (batch_id, active, position)`` serves the vote path's candidate query (free items in
offering order: it stops after the first few instead of sorting the whole batch) and counts the items
with room from the index alone.

Dropped: the single-column indexes on ``batch_id`` and ``item_id``, each the leading column of another
index (the unique (item, annotator) pairs, the (batch, annotator ...) indexes, the new one), so every
query they served is served as well; and those on ``annotator`` and ``created_at`` of assignments and
votes, which no query uses (every look-up by annotator names the batch too, and the exports sort one
batch's votes). Each vote wrote all eight into the database; it now writes none of them.

Revision ID: annotation_0003
Revises: annotation_0002
"""
from alembic import op

revision = "annotation_0003"
down_revision = "annotation_0002"
branch_labels = None
depends_on = None

_COVERED = (  # index, table, column
    ("ix_annotation_items_batch_id", "annotation_items", "batch_id"),
    ("ix_annotation_assignments_batch_id", "annotation_assignments", "batch_id"),
    ("ix_annotation_assignments_item_id", "annotation_assignments", "item_id"),
    ("ix_annotation_votes_batch_id", "annotation_votes", "batch_id"),
    ("ix_annotation_votes_item_id", "annotation_votes", "item_id"),
    ("ix_annotation_assignments_annotator", "annotation_assignments", "annotator"),
    ("ix_annotation_assignments_created_at", "annotation_assignments", "created_at"),
    ("ix_annotation_votes_annotator", "annotation_votes", "annotator"),
    ("ix_annotation_votes_created_at", "annotation_votes", "created_at"),
)


def upgrade() -> None:
    op.create_index("ix_annotation_items_batch_active", "annotation_items", ["batch_id", "active", "position"])
    for name, table, _column in _COVERED:
        op.drop_index(name, table_name=table)


def downgrade() -> None:
    for name, table, column in _COVERED:
        op.create_index(name, table, [column])
    op.drop_index("ix_annotation_items_batch_active", table_name="annotation_items")
