"""Columns every ledger record carries: tenancy, the site and its org path (for scoping), audit."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import JSON, Column, DateTime, String

Json = JSON().with_variant(JSON(none_as_null=True), "sqlite")


def new_id() -> str:
    return uuid.uuid4().hex


def record_columns() -> list[Column]:
    """id, tenant_id, site_id, org_path, created_at, created_by — fresh Column objects per table."""
    return [
        Column("id", String(32), primary_key=True),
        Column("tenant_id", String(64), nullable=False, index=True),
        Column("site_id", String(64), nullable=False),
        # Copied from the site at write time so supervisors' subtree queries need no join.
        Column("org_path", String(255), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("created_by", String(100), nullable=False),
    ]


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; treat them as the UTC they were stored as."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
