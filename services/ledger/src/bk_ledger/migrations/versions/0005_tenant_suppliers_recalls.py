"""tenant_suppliers_recalls: one supplier per licence in a tenant, and recalls (召回)

Per-site supplier rows are merged by their unified social credit code (trimmed, upper case): each
group gets one ``tenant_suppliers`` row, named after its oldest registration, and every row of the
group points at it. Nothing is deleted or rewritten, so the downgrade (drop what was added) is exact.

Revision ID: 0005
Revises: 0004
"""

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(sa.JSON(none_as_null=True), "sqlite")


def upgrade() -> None:
    op.create_table(
        "tenant_suppliers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("licence_no", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "licence_no", name="uq_tenant_suppliers_licence"),
    )
    # Added in place, never by SQLite's copy-and-rename (purchases reference suppliers).
    op.add_column("suppliers", sa.Column("tenant_supplier_id", sa.String(length=32), nullable=True))
    op.create_index("ix_suppliers_tenant_supplier_id", "suppliers", ["tenant_supplier_id"], unique=False)
    if op.get_bind().dialect.name != "sqlite":  # SQLite cannot add a constraint to a table in place
        op.create_foreign_key(
            "fk_suppliers_tenant_supplier", "suppliers", "tenant_suppliers", ["tenant_supplier_id"], ["id"]
        )
    _merge_by_licence(op.get_bind())
    op.create_table(
        "recalls",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("tenant_supplier_id", sa.String(length=32), nullable=False),
        sa.Column("item", sa.String(length=100), nullable=True),
        sa.Column("batch_no", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("scope", _JSON, nullable=False),
        sa.Column("report", _JSON, nullable=False),
        sa.ForeignKeyConstraint(["tenant_supplier_id"], ["tenant_suppliers.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_recalls_tenant_created", "recalls", ["tenant_id", "created_at"], unique=False)
    op.create_table(
        "recall_sites",
        sa.Column("recall_id", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("org_path", sa.String(length=255), nullable=False),
        sa.Column("tenant_supplier_id", sa.String(length=32), nullable=False),
        sa.Column("alert_id", sa.String(length=255), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["recall_id"], ["recalls.id"]),
        sa.PrimaryKeyConstraint("recall_id", "site_id"),
    )
    op.create_index("ix_recall_sites_alert", "recall_sites", ["tenant_id", "alert_id"], unique=False)
    op.create_index(
        "ix_recall_sites_supplier",
        "recall_sites",
        ["tenant_id", "site_id", "tenant_supplier_id"],
        unique=False,
    )


def _merge_by_licence(bind: sa.engine.Connection) -> None:
    sup = sa.table(
        "suppliers",
        sa.column("id"),
        sa.column("tenant_id"),
        sa.column("name"),
        sa.column("business_licence_no"),
        sa.column("created_at"),
        sa.column("tenant_supplier_id"),
    )
    ten = sa.table(
        "tenant_suppliers",
        sa.column("id"),
        sa.column("tenant_id"),
        sa.column("licence_no"),
        sa.column("name"),
        sa.column("created_at"),
    )
    groups: dict[tuple[str, str], dict[str, object]] = {}
    rows = bind.execute(
        sa.select(
            sup.c.id, sup.c.tenant_id, sup.c.name, sup.c.business_licence_no, sup.c.created_at
        ).order_by(sup.c.created_at, sup.c.id)
    )
    for row in rows:
        key = (row.tenant_id, "".join(row.business_licence_no.split()).upper())
        group = groups.setdefault(
            key, {"id": uuid.uuid4().hex, "name": row.name, "created_at": row.created_at, "rows": []}
        )
        group["rows"].append(row.id)  # type: ignore[attr-defined]
    for (tenant_id, licence_no), g in groups.items():
        bind.execute(
            ten.insert().values(
                id=g["id"],
                tenant_id=tenant_id,
                licence_no=licence_no,
                name=g["name"],
                created_at=g["created_at"],
            )
        )
        bind.execute(sup.update().where(sup.c.id.in_(g["rows"])).values(tenant_supplier_id=g["id"]))


def downgrade() -> None:
    op.drop_index("ix_recall_sites_supplier", table_name="recall_sites")
    op.drop_index("ix_recall_sites_alert", table_name="recall_sites")
    op.drop_table("recall_sites")
    op.drop_index("ix_recalls_tenant_created", table_name="recalls")
    op.drop_table("recalls")
    op.drop_index("ix_suppliers_tenant_supplier_id", table_name="suppliers")
    if op.get_bind().dialect.name == "sqlite":  # in place (SQLite ≥ 3.35), as it was added
        op.execute("ALTER TABLE suppliers DROP COLUMN tenant_supplier_id")
    else:
        op.drop_constraint("fk_suppliers_tenant_supplier", "suppliers", type_="foreignkey")
        op.drop_column("suppliers", "tenant_supplier_id")
    op.drop_table("tenant_suppliers")
