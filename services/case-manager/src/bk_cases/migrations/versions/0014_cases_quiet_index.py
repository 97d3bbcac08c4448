"""cases_quiet_index: the Class III auto-close sweep finds a tenant's quiet open cases by index

Revision ID: 0014
Revises: 0013
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_cases_quiet", "cases", ["tenant_id", "risk_class", "status", "last_seen_at"])


def downgrade() -> None:
    op.drop_index("ix_cases_quiet", table_name="cases")
