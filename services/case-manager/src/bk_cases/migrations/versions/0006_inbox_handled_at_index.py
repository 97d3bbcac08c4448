"""inbox_handled_at_index: bus_inbox by handled_at, so retention deletes old claims without a scan
(bkcore.retention)

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_bus_inbox_handled_at"), "bus_inbox", ["handled_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_bus_inbox_handled_at"), table_name="bus_inbox")
