"""directory_admin: a tenant's locale and the bureau-admin flag of users (bk_cases.admin)

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tenants", schema=None) as batch:
        batch.add_column(sa.Column("locale", sa.String(length=16), nullable=False, server_default="zh-CN"))
    with op.batch_alter_table("users", schema=None) as batch:
        batch.add_column(sa.Column("bureau_admin", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch:
        batch.drop_column("bureau_admin")
    with op.batch_alter_table("tenants", schema=None) as batch:
        batch.drop_column("locale")
