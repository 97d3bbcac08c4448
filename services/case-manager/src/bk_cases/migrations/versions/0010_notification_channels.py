"""notification_channels: per-person channel choice and duty-group robot, one row per phone delivery

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch:
        batch.add_column(sa.Column("notify_channels", sa.JSON(), nullable=False, server_default="{}"))
        batch.add_column(sa.Column("notify_robot", sa.String(length=64), nullable=False, server_default=""))
    op.create_table(
        "notification_deliveries",
        sa.Column("notification_id", sa.String(length=36), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("recipient_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("provider_ref", sa.String(length=128), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("notification_id", "channel", name=op.f("pk_notification_deliveries")),
    )
    op.create_index("ix_notification_deliveries_status", "notification_deliveries", ["status", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_notification_deliveries_status", table_name="notification_deliveries")
    op.drop_table("notification_deliveries")
    with op.batch_alter_table("users", schema=None) as batch:
        batch.drop_column("notify_robot")
        batch.drop_column("notify_channels")
