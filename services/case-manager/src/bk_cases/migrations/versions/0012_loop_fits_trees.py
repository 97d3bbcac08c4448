"""loop_fits_trees: deadlines from dispatch, per-subject cases, education copies, graded rules (#18.4)

cases: subject_id, severity, rectify_h, dispatched_at, recheck_result, cleared_at. tenants:
class_iii_close_days. case_copies: the 抄告 fact. risk_rules: keyed also by severity and site scope
(rebuilt: its primary key grows; the rows are kept as type-wide rules).

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch:
        batch.add_column(sa.Column("subject_id", sa.String(length=128), nullable=False, server_default=""))
        batch.add_column(sa.Column("severity", sa.String(length=16), nullable=False, server_default=""))
        batch.add_column(sa.Column("rectify_h", sa.Float(), nullable=True))
        batch.add_column(sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("recheck_result", sa.String(length=16), nullable=False, server_default=""))
        batch.add_column(sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("tenants", schema=None) as batch:
        batch.add_column(sa.Column("class_iii_close_days", sa.Float(), nullable=False, server_default="7"))
    op.create_table(
        "case_copies",
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("department", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("org_path", sa.String(length=500), nullable=False),
        sa.Column("unit_path", sa.String(length=500), nullable=False),
        sa.Column("recipient_ids", sa.JSON(), nullable=False),
        sa.Column("copied_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "department", name=op.f("pk_case_copies")),
    )
    op.create_index(
        "ix_case_copies_scope", "case_copies", ["tenant_id", "department", "org_path", "copied_at"]
    )
    _rebuild_risk_rules(["tenant_id", "case_type", "severity", "site_scope"], keep_scoped=True)


def downgrade() -> None:
    _rebuild_risk_rules(["tenant_id", "case_type"], keep_scoped=False)
    op.drop_index("ix_case_copies_scope", table_name="case_copies")
    op.drop_table("case_copies")
    with op.batch_alter_table("tenants", schema=None) as batch:
        batch.drop_column("class_iii_close_days")
    with op.batch_alter_table("cases", schema=None) as batch:
        for column in (
            "cleared_at",
            "recheck_result",
            "dispatched_at",
            "rectify_h",
            "severity",
            "subject_id",
        ):
            batch.drop_column(column)


def _rebuild_risk_rules(key: list[str], *, keep_scoped: bool) -> None:
    """The table is small (a tenant's handful of rules): read it, recreate it with the new key, refill.
    Going down, only type-wide rules survive (the old key has no room for the others)."""
    bind = op.get_bind()
    old = sa.table(
        "risk_rules",
        sa.column("tenant_id"),
        sa.column("case_type"),
        sa.column("risk_class"),
        sa.column("deadline_h"),
        *([sa.column("severity"), sa.column("site_scope")] if not keep_scoped else []),
    )
    rows = [dict(r._mapping) for r in bind.execute(sa.select(old))]
    if not keep_scoped:
        rows = [
            {k: v for k, v in r.items() if k not in ("severity", "site_scope")}
            for r in rows
            if not r["severity"] and not r["site_scope"]
        ]
    op.drop_table("risk_rules")
    columns = [
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("case_type", sa.String(length=64), nullable=False),
    ]
    if keep_scoped:
        columns += [
            sa.Column("severity", sa.String(length=16), nullable=False, server_default=""),
            sa.Column("site_scope", sa.String(length=32), nullable=False, server_default=""),
        ]
    columns += [
        sa.Column("risk_class", sa.Integer(), nullable=False),
        sa.Column("deadline_h", sa.Float(), nullable=True),
    ]
    table = op.create_table("risk_rules", *columns, sa.PrimaryKeyConstraint(*key, name=op.f("pk_risk_rules")))
    if rows:
        op.bulk_insert(
            table, [{**r, **({"severity": "", "site_scope": ""} if keep_scoped else {})} for r in rows]
        )
