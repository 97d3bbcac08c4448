"""Sites as the ledger needs them: enough to scope rows and to know when a kitchen opens.

The case-manager owns sites; the ledger keeps them as a read model fed by ``directory.v1``
(``bkcore.directory``): ``directory_*`` tables hold the directory as published, and ``sites`` its
projection for the ledger's queries, written only by ``sites.service.project_site``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Boolean, Column, String, Table

from bk_ledger.db import metadata
from bkcore.directory import add_directory_tables

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

directory = add_directory_tables(metadata)

#: Kinds where an accompanying meal (陪餐) is required for every meal.
SCHOOL_KINDS = frozenset({"school_canteen", "kindergarten"})


#: A site's opening hours when the directory gives none (or none the ledger can read).
DEFAULT_OPENING = "06:30-19:30"


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
