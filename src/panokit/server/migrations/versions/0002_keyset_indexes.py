"""indexes for keyset pagination: samples (dataset_id, id), release_items (release_id, id)

Without them SQLite walks every sample of a dataset and sorts it for each page.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 18:50:00
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("samples", schema=None) as batch_op:
        batch_op.create_index("ix_samples_dataset_id_id", ["dataset_id", "id"], unique=False)
    with op.batch_alter_table("release_items", schema=None) as batch_op:
        batch_op.create_index("ix_release_items_release_id_id", ["release_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("release_items", schema=None) as batch_op:
        batch_op.drop_index("ix_release_items_release_id_id")
    with op.batch_alter_table("samples", schema=None) as batch_op:
        batch_op.drop_index("ix_samples_dataset_id_id")
