"""iot_mqtt: sensors' broker password hash and the dead-letter table of MQTT ingest

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sensors") as batch_op:
        batch_op.add_column(sa.Column("broker_hash", sa.String(length=200), nullable=True))
    op.create_table(
        "iot_dead_letters",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=True),
        sa.Column("sensor_id", sa.String(length=64), nullable=True),
        sa.Column("topic", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=255), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_iot_dead_letters_tenant_received", "iot_dead_letters", ["tenant_id", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_iot_dead_letters_tenant_received", table_name="iot_dead_letters")
    op.drop_table("iot_dead_letters")
    with op.batch_alter_table("sensors") as batch_op:
        batch_op.drop_column("broker_hash")
