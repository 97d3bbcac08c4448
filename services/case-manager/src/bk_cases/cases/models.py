"""Cases (案件), their timeline, rectifications (整改) and per-tenant grading rules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import JSON, Float, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from bk_cases.coltypes import UTCDateTime
from bk_cases.db import Base
from bkcore.inputs import Instant


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        # One aggregating case per (tenant, site, type): concurrent consumers racing to open the same
        # case collide here and the loser retries into a join (exactly-once under concurrency).
        UniqueConstraint("open_key", name="uq_cases_open_key"),
        Index("ix_cases_scope", "tenant_id", "org_path", "created_at"),
        Index("ix_cases_site", "tenant_id", "site_id", "status"),
        Index("ix_cases_due", "status", "deadline"),
        Index("ix_cases_quiet", "tenant_id", "risk_class", "status", "last_seen_at"),  # Class III auto-close
        Index(
            "ix_cases_update_pending",
            "update_pending_since",
            postgresql_where=text("update_pending_since IS NOT NULL"),
            sqlite_where=text("update_pending_since IS NOT NULL"),
        ),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    site_id: Mapped[str] = mapped_column(String(64))
    org_path: Mapped[str] = mapped_column(String(500))
    site_kind: Mapped[str] = mapped_column(String(32), default="")
    source: Mapped[str] = mapped_column(String(16))
    source_ref: Mapped[str] = mapped_column(String(128), default="")  # violation/alert/complaint id
    case_type: Mapped[str] = mapped_column(String(64))
    risk_class: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    verdict: Mapped[str] = mapped_column(String(16), default="")
    card_level: Mapped[int] = mapped_column(Integer, default=0)
    escalated_to: Mapped[str] = mapped_column(String(500), default="")  # org path one level up (red card)
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    open_key: Mapped[str | None] = mapped_column(String(300), nullable=True)
    # What the case is about within its type, when there is one: a sensor, staff member, supplier or
    # camera (cases aggregate and clear per subject); "" for AI captures (per site).
    subject_id: Mapped[str] = mapped_column(String(128), default="", server_default="")
    severity: Mapped[str] = mapped_column(
        String(16), default="", server_default=""
    )  # the ledger's own (warning | alarm)
    rectify_h: Mapped[float | None] = mapped_column(
        Float, nullable=True
    )  # the grade's hours; None: no deadline
    camera_id: Mapped[str] = mapped_column(String(64), default="")
    zone: Mapped[str] = mapped_column(String(32), default="")
    score: Mapped[float] = mapped_column(Float, default=0.0)
    box: Mapped[list[float]] = mapped_column(JSON, default=list)  # normalised x1, y1, x2, y2
    model_version: Mapped[str] = mapped_column(String(64), default="")
    raw_snapshot_key: Mapped[str] = mapped_column(String(1024), default="")
    annotated_snapshot_key: Mapped[str] = mapped_column(String(1024), default="")
    # A supervisor's corrections of the capture (bkcore.verdicts.CaptureLabels as JSON); None = none,
    # the verdict says what it means (``labels.rules``). Training data, not part of the loop.
    labels: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True, default=None)
    description: Mapped[str] = mapped_column(Text, default="")
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # dispatch + rectify_h
    recheck_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    recheck_result: Mapped[str] = mapped_column(
        String(16), default="", server_default=""
    )  # passed | failed (现场复核结果)
    # The source condition ended by itself (a sensor reporting again, a camera back): the supervisor
    # still closes the case; a repeat of the condition sets it back to None.
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Merges (a repeat bumping occurrences) not yet told in cases.v1: set at the first such merge,
    # cleared when a cases.v1 carrying the case's current state is written (coalesced updates).
    update_pending_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CaseEvent(Base):
    """One step of a case's timeline (every transition, merge and card)."""

    __tablename__ = "case_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(36), index=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    action: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[str] = mapped_column(String(64))
    from_status: Mapped[str] = mapped_column(String(16), default="")
    to_status: Mapped[str] = mapped_column(String(16), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Rectification(Base):
    """Evidence the site submitted (photos in the object store, a note) and the review of it."""

    __tablename__ = "rectifications"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(36), index=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    attempt: Mapped[int] = mapped_column(Integer, default=1)  # 1st, 2nd ... submission of this case
    note: Mapped[str] = mapped_column(Text, default="")
    photo_keys: Mapped[list[str]] = mapped_column(JSON, default=list)
    submitted_by: Mapped[str] = mapped_column(String(64))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    review: Mapped[str] = mapped_column(String(16), default="")  # approved | rejected
    reviewed_by: Mapped[str] = mapped_column(String(64), default="")
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    review_note: Mapped[str] = mapped_column(Text, default="")


class RiskRule(Base):
    """A tenant's grading rule (``rules.GradingRule``): a case type, narrowed by the alarm's severity
    ("" = any) and the site's kind ("" = any, a kind, or ``education``), graded to a class."""

    __tablename__ = "risk_rules"
    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    severity: Mapped[str] = mapped_column(String(16), primary_key=True, default="", server_default="")
    site_scope: Mapped[str] = mapped_column(String(32), primary_key=True, default="", server_default="")
    risk_class: Mapped[int] = mapped_column(Integer)
    deadline_h: Mapped[float | None] = mapped_column(Float, nullable=True)  # None: the class's hours


class CaseCopy(Base):
    """A copy (抄告) of a case to another department — the education bureau for schools: who, when.

    A fact of the case, not a notification: it is recorded even when nobody of that department is in
    the directory yet, and the department reads it in its own view (``GET /cases/copies``).
    """

    __tablename__ = "case_copies"
    __table_args__ = (Index("ix_case_copies_scope", "tenant_id", "department", "org_path", "copied_at"),)
    case_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    department: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    org_path: Mapped[str] = mapped_column(String(500))  # the case's (scoping), not the recipients'
    unit_path: Mapped[str] = mapped_column(String(500), default="")  # the unit whose users got it
    recipient_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    copied_at: Mapped[datetime] = mapped_column(UTCDateTime)


# --- API schemas ---------------------------------------------------------------------------------


class CaseRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    tenant_id: str
    site_id: str
    org_path: str
    source: str
    source_ref: str
    case_type: str
    risk_class: int
    status: str
    verdict: str
    card_level: int
    escalated_to: str
    occurrences: int
    camera_id: str
    zone: str
    subject_id: str
    severity: str
    score: float
    description: str
    first_seen_at: datetime
    last_seen_at: datetime
    created_at: datetime
    dispatched_at: datetime | None
    deadline: datetime | None
    recheck_at: datetime | None
    recheck_result: str
    cleared_at: datetime | None
    closed_at: datetime | None


class CaseEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    at: datetime
    action: str
    actor_id: str
    from_status: str
    to_status: str
    note: str
    data: dict[str, Any]


class RectificationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    attempt: int
    note: str
    photo_keys: list[str]
    photo_urls: list[str] = Field(default_factory=list)
    submitted_by: str
    submitted_at: datetime
    review: str
    review_note: str


class CaseCopyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    department: str
    unit_path: str
    recipient_ids: list[str]
    copied_at: datetime


class CaseDetail(CaseRead):
    timeline: list[CaseEventRead]
    copies: list[CaseCopyRead] = Field(default_factory=list)
    rectifications: list[RectificationRead]
    raw_snapshot_url: str | None
    annotated_snapshot_url: str | None


class CopiedCase(CaseCopyRead):
    """One line of a department's copies view (抄告单): the copy and the case as it stands now."""

    case: CaseRead


class CopyPage(BaseModel):
    items: list[CopiedCase]
    total: int
    limit: int
    offset: int


class CasePage(BaseModel):
    items: list[CaseRead]
    total: int
    limit: int
    offset: int


#: the longest note a transition or rectification carries (a paragraph or two, not a document)
NOTE_MAX_LENGTH = 2000


class TransitionIn(BaseModel):
    note: str = Field("", max_length=NOTE_MAX_LENGTH)
    recheck_at: Instant | None = None  # schedule_recheck only
