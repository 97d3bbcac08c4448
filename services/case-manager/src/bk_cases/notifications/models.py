"""Per-recipient notification state: when they were last alerted and what is held for a digest."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import JSON, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bk_cases.coltypes import UTCDateTime
from bk_cases.db import Base
from bk_cases.notifications.rules import PHONE_CHANNELS

#: A person's phone channels per risk class ("II", "III" → wechat, sms, robot; Class I goes to every
#: channel), as ``User.notify_channels`` holds it; ``rules.check_choice`` checks the names.
ChannelChoice = Annotated[
    dict[
        Annotated[str, Field(max_length=8)],
        Annotated[list[Annotated[str, Field(max_length=16)]], Field(max_length=len(PHONE_CHANNELS))],
    ],
    Field(max_length=2),
]
#: The duty group's robot (a name in ``BK_NOTIFY_ROBOTS``; ``User.notify_robot``, String(64)).
RobotName = Annotated[str, Field(max_length=64)]


class RecipientState(Base):
    __tablename__ = "notification_state"
    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    recipient_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    held_count: Mapped[int] = mapped_column(Integer, default=0)
    held_case_ids: Mapped[list[str]] = mapped_column(JSON, default=list)  # capped: a digest names a few
    held_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)


class InAppMessage(Base):
    """A notification in the recipient's in-app inbox (站内信): every delivered message lands here."""

    __tablename__ = "notification_inbox"
    __table_args__ = (Index("ix_notification_inbox_recipient", "tenant_id", "recipient_id", "created_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the notification_id
    tenant_id: Mapped[str] = mapped_column(String(64))
    recipient_id: Mapped[str] = mapped_column(String(64))
    template: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    case_id: Mapped[str] = mapped_column(String(36), default="")
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    digest_count: Mapped[int] = mapped_column(Integer, default=0)
    data: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class DeliveryRecord(Base):
    """One message on one phone channel (WeChat, SMS, robot): sent, retrying (``sending`` while a
    replica tries it), dead-lettered, or skipped (channel not configured).

    A redelivered event sends only the channels not yet ``sent``; a dead one is also on
    ``notifications.v1.dlq`` (``brightkitchen dlq replay`` sends it again) and shows in the inbox.
    """

    __tablename__ = "notification_deliveries"
    # The retrier's look-up: the few rows retrying among the many sent.
    __table_args__ = (Index("ix_notification_deliveries_status", "status", "updated_at"),)
    notification_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)  # wechat | sms | robot
    tenant_id: Mapped[str] = mapped_column(String(64))
    recipient_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # sent | retrying | sending | dead | skipped
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    provider_ref: Mapped[str] = mapped_column(String(128), default="")  # msgid, BizId, robot
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DeliveryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    channel: str
    status: str
    attempts: int
    error: str
    updated_at: datetime


class InAppMessageRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    template: str
    title: str
    body: str
    case_id: str
    urgent: bool
    digest_count: int
    data: dict[str, str]
    created_at: datetime
    read_at: datetime | None
    deliveries: list[DeliveryRead] = []  # the phone channels it went out on, and how that went


class InAppPage(BaseModel):
    items: list[InAppMessageRead]
    unread: int
