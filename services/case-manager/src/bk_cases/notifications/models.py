"""Per-recipient notification state: when they were last alerted and what is held for a digest."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from bk_cases.coltypes import UTCDateTime
from bk_cases.db import Base


class RecipientState(Base):
    __tablename__ = "notification_state"
    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    recipient_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    held_count: Mapped[int] = mapped_column(Integer, default=0)
    held_case_ids: Mapped[list[str]] = mapped_column(JSON, default=list)  # capped: a digest names a few
    held_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
