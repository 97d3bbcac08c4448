"""Table and input schema of the morning health check (晨检)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import Boolean, Column, Date, DateTime, Float, Index, String, Table

from bk_ledger.common.columns import record_columns
from bk_ledger.db import metadata
from bkcore.inputs import AwareInstant

morning_checks = Table(
    "morning_checks",
    metadata,
    *record_columns(),
    Column("staff_id", String(64), nullable=False),
    Column("staff_name", String(100), nullable=False),
    Column("check_date", Date, nullable=False),  # the site's local date
    Column("checked_at", DateTime(timezone=True), nullable=False),
    Column("temperature_c", Float, nullable=False),
    Column("fever", Boolean, nullable=False),
    Column("diarrhoea", Boolean, nullable=False),
    Column("skin_wound", Boolean, nullable=False),
    Column("sore_throat", Boolean, nullable=False),
    Column("hands_ok", Boolean, nullable=False),
    Column("dress_ok", Boolean, nullable=False),
    Column("fit", Boolean, nullable=False),
    Column("result", String(200), nullable=False),
    Column("checker", String(100), nullable=False),
    Index("ix_morning_checks_site_date", "tenant_id", "site_id", "check_date"),
)


class Symptoms(BaseModel):
    fever: bool = False
    diarrhoea: bool = False
    skin_wound: bool = False
    sore_throat: bool = False

    def any(self) -> bool:
        return self.fever or self.diarrhoea or self.skin_wound or self.sore_throat


class MorningCheckIn(BaseModel):
    site_id: str = Field(..., min_length=1, max_length=64)
    staff_id: str = Field(..., min_length=1, max_length=64)
    staff_name: str = Field(..., min_length=1, max_length=100)
    checked_at: AwareInstant
    # A forehead/ear reading outside 34–43 °C is a broken thermometer or a typo, not a person.
    temperature_c: float = Field(..., ge=34.0, le=43.0, description="°C")
    symptoms: Symptoms = Field(default_factory=Symptoms)
    hands_ok: bool = Field(..., description="no wounds or infections on the hands")
    dress_ok: bool = Field(..., description="clean uniform, hat, no jewellery")
    checker: str = Field(..., min_length=1, max_length=100)

    def local_date(self, tz: str) -> datetime:
        from zoneinfo import ZoneInfo

        return self.checked_at.astimezone(ZoneInfo(tz))
