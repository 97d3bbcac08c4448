"""Tables and input schemas of purchases and suppliers."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator
from sqlalchemy import (
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from bk_ledger.common.columns import Json, record_columns
from bk_ledger.common.errors import fields_invalid
from bk_ledger.db import metadata
from bk_ledger.purchase.licence import CreditCode
from bkcore.inputs import Day

# One supplier of the tenant per unified social credit code, however many sites buy from it: what a
# recall (召回) names. ``name`` is the name it was first registered under.
tenant_suppliers = Table(
    "tenant_suppliers",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("licence_no", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant_id", "licence_no", name="uq_tenant_suppliers_licence"),
)

# A site's registration of a supplier (供应商资质: its licences as that site checked them).
suppliers = Table(
    "suppliers",
    metadata,
    *record_columns(),
    # Set on every write, and by migration 0005 for rows older than it (merged by licence).
    Column("tenant_supplier_id", String(32), ForeignKey("tenant_suppliers.id"), nullable=True, index=True),
    Column("name", String(200), nullable=False),
    Column("address", String(300), nullable=False),
    Column("contact", String(100), nullable=False),
    Column("phone", String(32), nullable=False),
    Column("business_licence_no", String(64), nullable=False),
    Column("business_licence_expires", Date, nullable=True),  # many licences never expire
    Column("food_licence_no", String(64), nullable=False),
    Column("food_licence_expires", Date, nullable=False),
    Column("licence_photos", Json, nullable=False),
)

purchases = Table(
    "purchases",
    metadata,
    *record_columns(),
    Column("item", String(100), nullable=False),
    Column("spec", String(100), nullable=False),
    Column("quantity", Float, nullable=False),
    Column("unit", String(20), nullable=False),
    Column("production_date", Date, nullable=True),  # fresh produce has none
    Column("batch_no", String(64), nullable=False),
    Column("shelf_life_days", Integer, nullable=True),
    Column("expiry_date", Date, nullable=True),
    Column("purchase_date", Date, nullable=False),
    Column("supplier_id", String(32), ForeignKey("suppliers.id"), nullable=False, index=True),
    Column("certificate_photos", Json, nullable=False),
    Column("invoice_photos", Json, nullable=False),
    Column("retain_until", Date, nullable=False),
    Index("ix_purchases_site_date", "tenant_id", "site_id", "purchase_date"),
)

_PHONE = r"^\+?[0-9][0-9\- ]{5,30}$"


class SupplierIn(BaseModel):
    site_id: str = Field(..., min_length=1, max_length=64)
    name: str = Field(..., min_length=1, max_length=200)
    address: str = Field(..., min_length=1, max_length=300)
    contact: str = Field(..., min_length=1, max_length=100)
    phone: str = Field(..., pattern=_PHONE, max_length=32)
    business_licence_no: CreditCode
    business_licence_expires: Day | None = None
    food_licence_no: str = Field(..., min_length=5, max_length=64, description="e.g. JY1330...")
    food_licence_expires: Day


class PurchaseIn(BaseModel):
    site_id: str = Field(..., min_length=1, max_length=64)
    item: str = Field(..., min_length=1, max_length=100)
    spec: str = Field(..., min_length=1, max_length=100, description="e.g. 5 kg/箱")
    quantity: float = Field(..., gt=0, le=1_000_000)
    unit: str = Field(..., min_length=1, max_length=20)
    production_date: Day | None = None
    batch_no: str = Field(..., min_length=1, max_length=64)
    shelf_life_days: int | None = Field(None, ge=1, le=3650)
    purchase_date: Day
    supplier_id: str = Field(..., min_length=1, max_length=32)

    @model_validator(mode="after")
    def _dates(self) -> PurchaseIn:
        problems = []
        if self.production_date and self.production_date > self.purchase_date:
            problems.append(("production_date", "must not be after purchase_date"))
        if self.shelf_life_days and not self.production_date:
            problems.append(("production_date", "required when shelf_life_days is given"))
        if problems:
            raise fields_invalid("PurchaseIn", problems)
        return self
