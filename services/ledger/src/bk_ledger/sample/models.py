"""Table and input schemas of food sample retention (留样)."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from pydantic import BaseModel, Field, model_validator
from sqlalchemy import Column, Date, DateTime, Float, Index, String, Table

from bk_ledger.common.columns import record_columns
from bk_ledger.common.errors import fields_invalid
from bk_ledger.db import metadata
from bkcore.inputs import AwareInstant, Day

sample_retentions = Table(
    "sample_retentions",
    metadata,
    *record_columns(),
    Column("dish", String(100), nullable=False),
    Column("meal", String(10), nullable=False),
    Column("meal_date", Date, nullable=False),
    Column("weight_g", Float, nullable=False),
    Column("taken_at", DateTime(timezone=True), nullable=False),
    Column("taker", String(100), nullable=False),
    Column("fridge", String(64), nullable=False),
    Column("planned_disposal_at", DateTime(timezone=True), nullable=False),
    Column("disposed_at", DateTime(timezone=True), nullable=True),
    Column("disposed_by", String(100), nullable=True),
    Index("ix_samples_site_date", "tenant_id", "site_id", "meal_date"),
)


class Meal(StrEnum):
    BREAKFAST = "breakfast"
    LUNCH = "lunch"
    DINNER = "dinner"
    SNACK = "snack"


class SampleIn(BaseModel):
    site_id: str = Field(..., min_length=1, max_length=64)
    dish: str = Field(..., min_length=1, max_length=100)
    meal: Meal
    meal_date: Day
    weight_g: float = Field(..., gt=0, le=5000, description="grams")
    taken_at: AwareInstant
    taker: str = Field(..., min_length=1, max_length=100)
    fridge: str = Field(..., min_length=1, max_length=64, description="the dedicated sample fridge")
    planned_disposal_at: AwareInstant

    @model_validator(mode="after")
    def _times(self) -> SampleIn:
        problems = []
        if self.planned_disposal_at <= self.taken_at:
            problems.append(("planned_disposal_at", "must be after taken_at"))
        if abs(self.taken_at.date() - self.meal_date) > timedelta(days=1):
            problems.append(("taken_at", "must be on (or within a day of) meal_date"))
        if problems:
            raise fields_invalid("SampleIn", problems)
        return self


class DisposalIn(BaseModel):
    disposed_at: AwareInstant
    disposed_by: str = Field(..., min_length=1, max_length=100)
