"""in-app notification inbox

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notification_inbox",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("recipient_id", sa.String(length=64), nullable=False),
        sa.Column("template", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("digest_count", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_inbox")),
    )
    with op.batch_alter_table("notification_inbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notification_inbox_recipient", ["tenant_id", "recipient_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("notification_inbox", schema=None) as batch_op:
        batch_op.drop_index("ix_notification_inbox_recipient")
    op.drop_table("notification_inbox")
