"""site_score_view: the case-manager's site scores (site_scores.v1), the only scores the public sees

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
    op.create_table(
        "site_score_view",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("org_path", sa.String(length=512), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("grade", sa.String(length=16), nullable=False),
        sa.Column("inspection_frequency", sa.String(length=16), nullable=False),
        sa.Column("list", sa.String(length=8), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "site_id"),
    )
    op.create_index("ix_site_score_view_list", "site_score_view", ["tenant_id", "list", "rank"])


def downgrade() -> None:
    op.drop_index("ix_site_score_view_list", table_name="site_score_view")
    op.drop_table("site_score_view")
