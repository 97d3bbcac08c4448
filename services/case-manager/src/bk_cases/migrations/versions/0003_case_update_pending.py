"""cases.update_pending_since: merges waiting for their coalesced cases.v1 update

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("update_pending_since", sa.DateTime(timezone=True), nullable=True))
    # Partial: only the few cases with an unannounced merge are in it (the flush scans it).
    op.create_index(
        "ix_cases_update_pending",
        "cases",
        ["update_pending_since"],
        unique=False,
        postgresql_where=sa.text("update_pending_since IS NOT NULL"),
        sqlite_where=sa.text("update_pending_since IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_cases_update_pending", table_name="cases")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("update_pending_since")
