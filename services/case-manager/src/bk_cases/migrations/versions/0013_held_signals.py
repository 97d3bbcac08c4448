"""held_signals: signals for a site the directory does not know, held and retried (bk_cases.held)

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "held_signals",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_try_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_held_signals")),
    )
    op.create_index("ix_held_signals_event", "held_signals", ["topic", "event_id"], unique=True)
    op.create_index(op.f("ix_held_signals_next_try_at"), "held_signals", ["next_try_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_held_signals_next_try_at"), table_name="held_signals")
    op.drop_index("ix_held_signals_event", table_name="held_signals")
    op.drop_table("held_signals")
