"""cameras.live_source_url: the main stream viewers watch while analytics pulls the sub-stream

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cameras", sa.Column("live_source_url", sa.String(2000), nullable=False, server_default=""))


def downgrade() -> None:
    op.drop_column("cameras", "live_source_url")
