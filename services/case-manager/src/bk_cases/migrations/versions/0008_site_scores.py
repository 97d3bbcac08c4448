"""site_scores: ratings and ledger completeness kept as score inputs, the last published scores,
and per-tenant scoring rules (tenants.score_rules)

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("score_rules", sa.JSON(), nullable=True))
    op.create_table(
        "site_ratings",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("rating_id", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("score", sa.String(length=16), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "rating_id", name=op.f("pk_site_ratings")),
    )
    op.create_index("ix_site_ratings_tenant_rated", "site_ratings", ["tenant_id", "rated_at"])
    op.create_table(
        "ledger_completeness",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "site_id", "day", name=op.f("pk_ledger_completeness")),
    )
    op.create_table(
        "published_scores",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "site_id", name=op.f("pk_published_scores")),
    )


def downgrade() -> None:
    op.drop_table("published_scores")
    op.drop_table("ledger_completeness")
    op.drop_index("ix_site_ratings_tenant_rated", table_name="site_ratings")
    op.drop_table("site_ratings")
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("score_rules")
