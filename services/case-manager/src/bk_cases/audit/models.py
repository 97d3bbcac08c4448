"""The audit log (审计日志): append-only, one keyed hash chain per tenant.

Each entry's hash is an HMAC (key outside the database, its id in ``key_id``) over its content and
the previous entry's hash, and ``audit_heads`` keeps the last sequence number and hash of each
chain: editing a row breaks its hash, deleting one leaves a gap or a broken link, truncating the
tail disagrees with the head, and re-chaining rows needs the key (``bk_cases.audit.rules``).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bk_cases.coltypes import UTCDateTime
from bk_cases.db import Base


class AuditEntry(Base):
    __tablename__ = "audit_log"
    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64), index=True)
    data: Mapped[str] = mapped_column(Text)  # canonical JSON: the exact bytes that were hashed
    key_id: Mapped[str] = mapped_column(String(32), default="", server_default="")  # "" = unkeyed
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The tip of one tenant's chain; its row lock serialises appends on PostgreSQL."""

    __tablename__ = "audit_heads"
    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    hash: Mapped[str] = mapped_column(String(64))


class AuditEntryRead(BaseModel):
    seq: int
    at: datetime
    actor_id: str
    action: str
    entity_type: str
    entity_id: str
    data: str
    key_id: str
    hash: str


class ChainProblem(BaseModel):
    seq: int | None  # None: the chain as a whole
    problem: str


class VerifyReport(BaseModel):
    tenant_id: str
    ok: bool
    entries: int
    problems: list[str]
    findings: list[ChainProblem]  # the same problems, each with the sequence number it is at
    key_ids: list[str]  # the audit keys that made the entries (rotation: which are still needed)
