"""A signal held because its site is unknown (待补录站点的信号): the event as it came, and its retries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from bk_cases.coltypes import UTCDateTime
from bk_cases.db import Base


class HeldSignal(Base):
    """One event (detection, camera alarm, ledger alert, complaint) waiting for its site to exist."""

    __tablename__ = "held_signals"
    __table_args__ = (Index("ix_held_signals_event", "topic", "event_id", unique=True),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    site_id: Mapped[str] = mapped_column(String(64))
    topic: Mapped[str] = mapped_column(String(100))
    event_id: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(200))
    payload: Mapped[bytes] = mapped_column(LargeBinary)  # the event's bytes, as the bus delivered them
    held_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_try_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
