"""camera registry, credentials, bus inbox/outbox

Revision ID: 0001
Revises:
Create Date: 2026-09-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cameras",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("site_id", sa.String(100), nullable=False),
        sa.Column("org_path", sa.String(500), nullable=False),
        sa.Column("zone", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("source_url", sa.String(2000), nullable=False),
        sa.Column("sampling_mode", sa.String(16), nullable=False),
        sa.Column("sample_fps", sa.Float, nullable=False),
        sa.Column("motion_gating", sa.Boolean, nullable=False),
        sa.Column("profile", sa.JSON, nullable=False),
        sa.Column("schedule", sa.JSON, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("rules_version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_cameras_tenant_id", "cameras", ["tenant_id"])
    op.create_index("ix_cameras_site_id", "cameras", ["site_id"])
    op.create_table(
        "camera_credentials",
        sa.Column("camera_id", sa.String(100), sa.ForeignKey("cameras.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("username", sa.String(200), nullable=False),
        sa.Column("password", sa.String(500), nullable=False),
    )
    op.create_table(
        "bus_inbox",
        sa.Column("consumer", sa.String(100), primary_key=True),
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "bus_outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("topic", sa.String(100), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_bus_outbox_published_at", "bus_outbox", ["published_at"])


def downgrade() -> None:
    op.drop_table("bus_outbox")
    op.drop_table("bus_inbox")
    op.drop_table("camera_credentials")
    op.drop_table("cameras")
