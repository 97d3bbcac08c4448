"""The camera registry's tables. Credentials live in their own table so no query that lists or
returns cameras can leak them by accident."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKeyConstraint, Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bkcore.db import UtcDateTime, add_messaging_tables
from bkcore.directory import add_directory_tables

metadata = MetaData()


class Base(DeclarativeBase):
    metadata = metadata


class Camera(Base):
    """A camera of one kitchen zone (切配区, 洗消区, 烹饪区, 仓库, 备餐间) of one site. Its id is unique
    within its tenant: the key is (tenant_id, id), so no tenant can probe or squat another's ids."""

    __tablename__ = "cameras"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(100), index=True)
    org_path: Mapped[str] = mapped_column(String(500), default="/")  # the site's place in the org tree
    zone: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200), default="")
    source_url: Mapped[str] = mapped_column(String(2000))  # never holds credentials
    # the stream viewers watch (a camera's main stream) when analytics pulls its sub-stream; "" = source_url
    live_source_url: Mapped[str] = mapped_column(String(2000), default="")
    sampling_mode: Mapped[str] = mapped_column(String(16), default="fps")  # fps | keyframes
    sample_fps: Mapped[float] = mapped_column(Float, default=1.0)
    motion_gating: Mapped[bool] = mapped_column(Boolean, default=False)
    profile: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # masks, rules, timezone
    schedule: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # analytics windows
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    rules_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())  # aware on SQLite too
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class CameraCredential(Base):
    """Username and password of a camera's stream; read only by the pull worker."""

    __tablename__ = "camera_credentials"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "camera_id"],
            ["cameras.tenant_id", "cameras.id"],
            ondelete="CASCADE",
            name="fk_camera_credentials_camera",
        ),
    )

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    username: Mapped[str] = mapped_column(String(200), default="")
    password: Mapped[str] = mapped_column(String(500), default="")


inbox, outbox = add_messaging_tables(metadata)
#: The case-manager's directory as published on directory.v1 (bk_gateway.directory_feed).
directory = add_directory_tables(metadata)
