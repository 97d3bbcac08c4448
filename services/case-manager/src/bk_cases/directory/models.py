"""Directory: tenants, the org tree, sites (with their enterprise file), kitchen zones, cameras, users.

The org tree is stored with a materialised ``path`` (``/minghu/lakeside/north``) so "everything in my
subtree" is one indexed prefix comparison, and each site copies its unit's path (``org_path``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, false, true
from sqlalchemy.orm import Mapped, mapped_column

from bk_cases.coltypes import UTCDateTime
from bk_cases.db import Base


class Tenant(Base):
    """A region's platform operator (e.g. a city) — 租户."""

    __tablename__ = "tenants"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    # Class III cases (counted, no deadline) close by themselves after this many quiet days.
    class_iii_close_days: Mapped[float] = mapped_column(Float, default=7.0, server_default="7")
    locale: Mapped[str] = mapped_column(String(16), default="zh-CN", server_default="zh-CN")
    # Overrides of the risk score's weights and list thresholds (bk_cases.stats.rules.ScoringRules).
    score_rules: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class OrgUnit(Base):
    """A node of the org tree: city → district/county → township/grid (属地管理)."""

    __tablename__ = "org_units"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))  # city, district, county, township, grid
    parent_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    path: Mapped[str] = mapped_column(String(500), index=True)


class Site(Base):
    """A supervised kitchen (school canteen, kindergarten, restaurant, ...) and its enterprise file."""

    __tablename__ = "sites"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    org_id: Mapped[str] = mapped_column(String(64))
    org_path: Mapped[str] = mapped_column(String(500), index=True)
    address: Mapped[str] = mapped_column(String(300), default="")
    latitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    longitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    opening_hours: Mapped[str] = mapped_column(String(64), default="")
    licences: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # 许可证: kind, number, expiry
    contacts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # name, role, phone


class KitchenZone(Base):
    """A zone of a kitchen: prep, washing, cooking, storage, serving (切配/洗消/烹饪/仓库/备餐)."""

    __tablename__ = "kitchen_zones"
    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    zone: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")


class CameraBinding(Base):
    """Which camera watches which zone of which site (the gateway owns the camera itself)."""

    __tablename__ = "camera_bindings"
    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(64), index=True)
    zone: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200), default="")


class User(Base):
    """A staff user (supervisor, site manager, canteen staff, admin) — 监管人员 / 食堂负责人."""

    __tablename__ = "users"
    __table_args__ = (Index("ix_users_login", "tenant_id", "username", unique=True),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    username: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200), default="")
    department: Mapped[str] = mapped_column(String(32), default="market")  # market | education (抄告)
    org_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    org_path: Mapped[str] = mapped_column(String(500), default="/")
    site_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    phone: Mapped[str] = mapped_column(String(32), default="")
    wechat_openid: Mapped[str] = mapped_column(String(64), default="")
    #: Channels per risk class ({"II": ["wechat"], "III": []}); a class not named gets the default,
    #: Class I always every channel the person can be reached on (bk_cases.notifications.rules).
    notify_channels: Mapped[dict[str, list[str]]] = mapped_column(JSON, default=dict, server_default="{}")
    #: The duty group's robot (a name in BK_NOTIFY_ROBOTS: WeCom or DingTalk) that @-mentions them.
    notify_robot: Mapped[str] = mapped_column(String(64), default="", server_default="")
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: A supervisor who administers their subtree (区县管理员): units, sites, cameras, users in it.
    bureau_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Deactivated (停用): refused at login and, through directory.v1, by every service within a minute.
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class DirectoryVersion(Base):
    """The last ``directory.v1`` version of one entity (kept after a deletion, so versions only grow)."""

    __tablename__ = "directory_versions"
    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # tenant, org_unit, site, user, camera
    entity_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    digest: Mapped[str] = mapped_column(String(64), default="")  # of the state last published


# --- API schemas ---------------------------------------------------------------------------------


class OrgUnitRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    kind: str
    parent_id: str | None
    path: str


class SiteRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    kind: str
    org_id: str
    org_path: str
    address: str
    latitude: float | None
    longitude: float | None
    opening_hours: str
    licences: list[dict[str, Any]]
    contacts: list[dict[str, Any]]


class ZoneRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    zone: str
    name: str


class CameraRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    camera_id: str
    zone: str
    name: str


class SiteDetail(SiteRead):
    zones: list[ZoneRead]
    cameras: list[CameraRead]


class LoginIn(BaseModel):
    username: str = Field(max_length=100)  # users.username
    # Long enough for any passphrase; a megabyte "password" would only cost a hash's worth of CPU.
    password: str = Field(max_length=256)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class MeOut(BaseModel):
    id: str
    tenant_id: str
    role: str
    name: str
    org_path: str
    site_ids: list[str]
