"""Sites as the ledger needs them: enough to scope rows and to know when a kitchen opens."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Boolean, Column, String, Table

from bk_ledger.db import metadata

sites = Table(
    "sites",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("site_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(40), nullable=False),  # school_canteen, kindergarten, restaurant, ...
    Column("org_path", String(255), nullable=False),
    Column("opening", String(11), nullable=False),  # local "HH:MM-HH:MM"
    Column("timezone", String(64), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
)

#: Kinds where an accompanying meal (陪餐) is required for every meal.
SCHOOL_KINDS = frozenset({"school_canteen", "kindergarten"})


@dataclass(frozen=True)
class SiteSeed:
    """One site to seed (from the demo tenant now; from case-manager events later)."""

    site_id: str
    name: str
    kind: str
    org_path: str
    opening: str = "06:30-19:30"
    timezone: str = ""


@dataclass(frozen=True)
class SiteInfo:
    tenant_id: str
    site_id: str
    name: str
    kind: str
    org_path: str
    opening: str
    timezone: str

    @property
    def is_school(self) -> bool:
        return self.kind in SCHOOL_KINDS
