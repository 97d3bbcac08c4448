"""Tables and input schemas of recalls: what was recalled, why, and what the ledger found."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator, model_validator
from sqlalchemy import Column, DateTime, ForeignKey, Index, String, Table, Text

from bk_ledger.common.columns import Json
from bk_ledger.common.errors import fields_invalid
from bk_ledger.db import metadata
from bk_ledger.purchase.licence import CreditCode
from bkcore.inputs import Day

recalls = Table(
    "recalls",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(100), nullable=False),
    Column("tenant_supplier_id", String(32), ForeignKey("tenant_suppliers.id"), nullable=False),
    Column("item", String(100), nullable=True),  # with batch_no: one batch; without: the whole supplier
    Column("batch_no", String(64), nullable=True),
    Column("reason", Text, nullable=False),
    Column("scope", Json, nullable=False),
    # What the trace found when the recall was made, per site (purchases, dishes, samples): a recall
    # report is a record of that moment, not a live query.
    Column("report", Json, nullable=False),
    Index("ix_recalls_tenant_created", "tenant_id", "created_at"),
)

# One row per affected site: scopes who reads which part of a report, and carries the site's case.
recall_sites = Table(
    "recall_sites",
    metadata,
    Column("recall_id", String(32), ForeignKey("recalls.id"), primary_key=True),
    Column("site_id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("org_path", String(255), nullable=False),
    Column("tenant_supplier_id", String(32), nullable=False),
    Column("alert_id", String(255), nullable=False),
    Column("case_id", String(64), nullable=True),  # from cases.v1, once the case-manager opened it
    Index("ix_recall_sites_alert", "tenant_id", "alert_id"),
    Index("ix_recall_sites_supplier", "tenant_id", "site_id", "tenant_supplier_id"),
)


class BatchRef(BaseModel):
    """A batch is identified by its supplier, the product and the batch number on the label."""

    item: str = Field(..., min_length=1, max_length=100, description="the product, as purchased")
    batch_no: str = Field(..., min_length=1, max_length=64)

    @field_validator("item", "batch_no")
    @classmethod
    def _trimmed(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()


class RecallScope(BaseModel):
    """Narrows a recall; the caller's own org subtree always bounds it."""

    org_path: str | None = Field(
        None,
        min_length=1,
        max_length=255,
        description="only sites under this org unit, e.g. /minghu/hillview",
    )
    purchased_from: Day | None = None
    purchased_to: Day | None = None

    @model_validator(mode="after")
    def _window(self) -> RecallScope:
        if self.purchased_from and self.purchased_to and self.purchased_from > self.purchased_to:
            raise fields_invalid("RecallScope", [("purchased_to", "must not be before purchased_from")])
        return self


class RecallIn(BaseModel):
    supplier_licence: CreditCode
    batch: BatchRef | None = Field(None, description="recall one batch; without it, all of the supplier")
    reason: str = Field(..., min_length=1, max_length=1000, description="why, e.g. 抽检不合格 failed a test")
    scope: RecallScope = Field(default_factory=RecallScope)
