"""Table and input schema of the pesticide residue rapid test (农残快检)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field
from sqlalchemy import Column, DateTime, Float, Index, String, Table

from bk_ledger.common.columns import record_columns
from bk_ledger.db import metadata
from bkcore.inputs import AwareInstant

pesticide_tests = Table(
    "pesticide_tests",
    metadata,
    *record_columns(),
    Column("sample_no", String(64), nullable=False),
    Column("item", String(100), nullable=False),
    Column("method", String(100), nullable=False),
    Column("inhibition_pct", Float, nullable=False),
    Column("result", String(10), nullable=False),  # pass / fail, decided by the rule, never typed in
    Column("tester", String(100), nullable=False),
    Column("tested_at", DateTime(timezone=True), nullable=False),
    Column("purchase_id", String(32), nullable=True, index=True),  # the batch the sample came from
    Column("disposition", String(20), nullable=True),  # failed food: returned / destroyed
    Index("ix_pesticide_site_time", "tenant_id", "site_id", "tested_at"),
)


class Method(StrEnum):
    ENZYME_INHIBITION = "enzyme_inhibition"  # 酶抑制率法 GB/T 5009.199


class Disposition(StrEnum):
    RETURNED = "returned"
    DESTROYED = "destroyed"


class PesticideTestIn(BaseModel):
    site_id: str = Field(..., min_length=1, max_length=64)
    sample_no: str = Field(..., min_length=1, max_length=64)
    item: str = Field(..., min_length=1, max_length=100, description="e.g. 青菜 bok choy")
    method: Method = Method.ENZYME_INHIBITION
    inhibition_pct: float = Field(..., ge=0, le=100, description="enzyme inhibition rate, %")
    tester: str = Field(..., min_length=1, max_length=100)
    tested_at: AwareInstant
    purchase_id: str | None = Field(None, min_length=1, max_length=32)
    disposition: Disposition | None = None
