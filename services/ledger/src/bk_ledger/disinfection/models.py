"""Table and input schema of tableware disinfection (餐具消毒)."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from pydantic import BaseModel, Field, model_validator
from sqlalchemy import Boolean, Column, DateTime, Float, Index, Integer, String, Table

from bk_ledger.common.columns import record_columns
from bk_ledger.common.errors import fields_invalid
from bk_ledger.db import metadata
from bkcore.inputs import AwareInstant

disinfections = Table(
    "disinfections",
    metadata,
    *record_columns(),
    Column("items", String(200), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("method", String(20), nullable=False),
    Column("temperature_c", Float, nullable=True),
    Column("concentration_mg_l", Float, nullable=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True), nullable=False),
    Column("operator", String(100), nullable=False),
    Column("compliant", Boolean, nullable=False),
    Index("ix_disinfections_site_time", "tenant_id", "site_id", "started_at"),
)


class Method(StrEnum):
    BOILING = "boiling"  # 煮沸
    STEAM = "steam"  # 蒸汽
    INFRARED = "infrared"  # 红外消毒柜
    DISHWASHER = "dishwasher"  # 洗碗机
    CHLORINE = "chlorine"  # 含氯消毒剂浸泡

    @property
    def chemical(self) -> bool:
        return self is Method.CHLORINE


class DisinfectionIn(BaseModel):
    site_id: str = Field(..., min_length=1, max_length=64)
    items: str = Field(..., min_length=1, max_length=200, description="e.g. 餐盘、碗、筷")
    quantity: int = Field(..., ge=1, le=100_000)
    method: Method
    temperature_c: float | None = Field(None, ge=0, le=300, description="°C, heat methods")
    concentration_mg_l: float | None = Field(None, ge=0, le=10_000, description="mg/L, chemical methods")
    started_at: AwareInstant
    ended_at: AwareInstant
    operator: str = Field(..., min_length=1, max_length=100)

    @model_validator(mode="after")
    def _consistent(self) -> DisinfectionIn:
        problems = []
        if self.ended_at <= self.started_at:
            problems.append(("ended_at", "must be after started_at"))
        elif self.ended_at - self.started_at > timedelta(hours=24):
            problems.append(("ended_at", "a run longer than 24 h is not plausible"))
        if self.method.chemical and self.concentration_mg_l is None:
            problems.append(("concentration_mg_l", "required for chemical disinfection"))
        if not self.method.chemical and self.temperature_c is None:
            problems.append(("temperature_c", "required for heat disinfection"))
        if problems:
            raise fields_invalid("DisinfectionIn", problems)
        return self
