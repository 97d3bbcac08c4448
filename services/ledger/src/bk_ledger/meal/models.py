"""Tables and input schemas of accompanying meals and dishes served."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field
from sqlalchemy import Column, Date, ForeignKey, Index, String, Table, Text

from bk_ledger.common.columns import record_columns
from bk_ledger.db import metadata
from bk_ledger.sample.models import Meal
from bkcore.inputs import Day

accompanying_meals = Table(
    "accompanying_meals",
    metadata,
    *record_columns(),
    Column("meal_date", Date, nullable=False),
    Column("meal", String(10), nullable=False),
    Column("leader", String(100), nullable=False),
    Column("leader_title", String(100), nullable=False),
    Column("menu", Text, nullable=False),
    Column("quality", String(10), nullable=False),
    Column("hygiene", String(10), nullable=False),
    Column("problems", Text, nullable=False),
    Index("ix_accompanying_site_date", "tenant_id", "site_id", "meal_date"),
)

dishes_served = Table(
    "dishes_served",
    metadata,
    *record_columns(),
    Column("meal_date", Date, nullable=False),
    Column("meal", String(10), nullable=False),
    Column("dish", String(100), nullable=False),
    Index("ix_dishes_site_date", "tenant_id", "site_id", "meal_date"),
)

# Which purchase batches went into which dish: the link traceability walks both ways.
dish_ingredients = Table(
    "dish_ingredients",
    metadata,
    Column("dish_served_id", String(32), ForeignKey("dishes_served.id"), primary_key=True),
    Column("purchase_id", String(32), ForeignKey("purchases.id"), primary_key=True, index=True),
)


class Rating(StrEnum):
    GOOD = "good"
    FAIR = "fair"
    POOR = "poor"


class AccompanyingMealIn(BaseModel):
    site_id: str = Field(..., min_length=1, max_length=64)
    meal_date: Day
    meal: Meal
    leader: str = Field(..., min_length=1, max_length=100)
    leader_title: str = Field(..., min_length=1, max_length=100, description="e.g. 校长 principal")
    menu: str = Field(..., min_length=1, max_length=2000)
    quality: Rating
    hygiene: Rating
    problems: str = Field("", max_length=2000)


class DishServedIn(BaseModel):
    site_id: str = Field(..., min_length=1, max_length=64)
    meal_date: Day
    meal: Meal
    dish: str = Field(..., min_length=1, max_length=100)
    purchase_ids: list[Annotated[str, Field(max_length=32)]] = Field(  # purchases.id
        default_factory=list, max_length=50, description="purchase batches used in this dish"
    )
