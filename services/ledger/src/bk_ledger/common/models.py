"""Shared tables: per-tenant rule config and the state of raised alerts (for de-duplication)."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, String, Table

from bk_ledger.common.columns import Json
from bk_ledger.db import metadata

rule_configs = Table(
    "rule_configs",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("config", Json, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

alert_states = Table(
    "alert_states",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("alert_id", String(255), primary_key=True),
    Column("active", Boolean, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
