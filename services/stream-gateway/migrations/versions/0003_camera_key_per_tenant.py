"""cameras keyed by (tenant_id, id): a camera id is unique within its tenant only

One global id namespace let a tenant probe (a PUT of another tenant's id answered 409) and squat ids.
The tables are rebuilt rather than altered in place: SQLite cannot change a primary key, and
PostgreSQL's default constraint names are not the same everywhere; a copy works on both.

Revision ID: 0003
Revises: 0002
Create Date: 2027-01-12
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_CAMERA_COLUMNS = ("tenant_id", "id", "site_id", "org_path", "zone", "name", "source_url", "live_source_url",
                   "sampling_mode", "sample_fps", "motion_gating", "profile", "schedule", "enabled",
                   "rules_version", "created_at", "updated_at")


def _camera_columns() -> list[sa.Column]:
    return [
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("id", sa.String(100), nullable=False),
        sa.Column("site_id", sa.String(100), nullable=False),
        sa.Column("org_path", sa.String(500), nullable=False),
        sa.Column("zone", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("source_url", sa.String(2000), nullable=False),
        sa.Column("live_source_url", sa.String(2000), nullable=False, server_default=""),
        sa.Column("sampling_mode", sa.String(16), nullable=False),
        sa.Column("sample_fps", sa.Float, nullable=False),
        sa.Column("motion_gating", sa.Boolean, nullable=False),
        sa.Column("profile", sa.JSON, nullable=False),
        sa.Column("schedule", sa.JSON, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("rules_version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    cols = ", ".join(_CAMERA_COLUMNS)
    op.create_table("cameras_v3", *_camera_columns(),
                    sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_cameras"))
    op.execute(f"INSERT INTO cameras_v3 ({cols}) SELECT {cols} FROM cameras")
    op.create_table(
        "camera_credentials_v3",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("camera_id", sa.String(100), nullable=False),
        sa.Column("username", sa.String(200), nullable=False),
        sa.Column("password", sa.String(500), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "camera_id", name="pk_camera_credentials"),
        sa.ForeignKeyConstraint(["tenant_id", "camera_id"], ["cameras_v3.tenant_id", "cameras_v3.id"],
                                ondelete="CASCADE", name="fk_camera_credentials_camera"),
    )
    op.execute("INSERT INTO camera_credentials_v3 (tenant_id, camera_id, username, password) "
               "SELECT c.tenant_id, cc.camera_id, cc.username, cc.password "
               "FROM camera_credentials cc JOIN cameras c ON c.id = cc.camera_id")
    op.drop_table("camera_credentials")
    op.drop_table("cameras")
    # SQLite (3.26+) and PostgreSQL both carry the foreign key along with the renamed table.
    op.rename_table("cameras_v3", "cameras")
    op.rename_table("camera_credentials_v3", "camera_credentials")
    op.create_index("ix_cameras_site_id", "cameras", ["site_id"])


def downgrade() -> None:
    """Back to one global id namespace: fails (primary key violation) if two tenants share an id."""
    cols = ", ".join(_CAMERA_COLUMNS)
    op.create_table("cameras_v2", *_camera_columns(), sa.PrimaryKeyConstraint("id", name="pk_cameras_v2"))
    op.execute(f"INSERT INTO cameras_v2 ({cols}) SELECT {cols} FROM cameras")
    op.create_table(
        "camera_credentials_v2",
        sa.Column("camera_id", sa.String(100), sa.ForeignKey("cameras_v2.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("username", sa.String(200), nullable=False),
        sa.Column("password", sa.String(500), nullable=False),
    )
    op.execute("INSERT INTO camera_credentials_v2 (camera_id, username, password) "
               "SELECT camera_id, username, password FROM camera_credentials")
    op.drop_table("camera_credentials")
    op.drop_table("cameras")
    op.rename_table("cameras_v2", "cameras")
    op.rename_table("camera_credentials_v2", "camera_credentials")
    op.create_index("ix_cameras_tenant_id", "cameras", ["tenant_id"])
    op.create_index("ix_cameras_site_id", "cameras", ["site_id"])
