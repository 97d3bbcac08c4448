"""directory_read_model: the case-manager's directory as the public API keeps it (directory.v1)

Revision ID: 0005
Revises: 0004
"""

from bkcore.directory import create_directory_tables, drop_directory_tables

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from alembic import op

    create_directory_tables(op)


def downgrade() -> None:
    from alembic import op

    drop_directory_tables(op)
