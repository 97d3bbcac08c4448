"""Seeding a tenant from plain data (the demo tenant in ``brightkitchen.demo_data``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import select

from bk_cases.audit import service as audit
from bk_cases.directory.models import CameraBinding, KitchenZone, OrgUnit, Site, Tenant, User
from bk_cases.directory.rules import hash_password
from bkcore.db import Database

ZONE_NAMES = {
    "prep": "切配区",
    "washing": "洗消区",
    "cooking": "烹饪区",
    "storage": "仓库",
    "serving": "备餐间",
}


class DemoData(Protocol):
    """Duck type of ``brightkitchen.demo_data`` (a service never imports the CLI package)."""

    TENANT_ID: str
    TENANT_NAME: str
    ORG_UNITS: Sequence[Any]
    SITES: Sequence[Any]
    USERS: Sequence[Any]


async def seed_demo(db: Database, demo: DemoData) -> None:
    """Insert the demo tenant, org tree, sites, zones, cameras and users; idempotent (upsert by id).

    Passwords are re-hashed only for users that do not exist yet, so re-seeding is cheap and never
    resets a changed password.
    """
    tid = demo.TENANT_ID
    units = {u.id: u for u in demo.ORG_UNITS}
    async with db.session() as s, audit.directory_changes(s, actor_id="system"):  # each change chained
        await s.merge(
            Tenant(id=tid, name=demo.TENANT_NAME, timezone=getattr(demo, "TIMEZONE", "Asia/Shanghai"))
        )
        await s.flush()
        for u in demo.ORG_UNITS:
            await s.merge(
                OrgUnit(tenant_id=tid, id=u.id, name=u.name, kind=u.kind, parent_id=u.parent_id, path=u.path)
            )
        for site in demo.SITES:
            await s.merge(
                Site(
                    tenant_id=tid,
                    id=site.id,
                    name=site.name,
                    kind=site.kind,
                    org_id=site.org_id,
                    org_path=units[site.org_id].path,
                    address=site.address,
                    latitude=site.latitude,
                    longitude=site.longitude,
                    opening_hours=site.opening,
                    licences=list(getattr(site, "licences", ())),
                    contacts=list(getattr(site, "contacts", ())),
                )
            )
            for cam in site.cameras:
                await s.merge(
                    KitchenZone(
                        tenant_id=tid, site_id=site.id, zone=cam.zone, name=ZONE_NAMES.get(cam.zone, cam.zone)
                    )
                )
                await s.merge(
                    CameraBinding(
                        tenant_id=tid, camera_id=cam.id, site_id=site.id, zone=cam.zone, name=cam.name
                    )
                )
        existing = set((await s.scalars(select(User.username).where(User.tenant_id == tid))).all())
        for user in demo.USERS:
            if user.username in existing:
                continue
            s.add(
                User(
                    id=f"{tid}:{user.username}",
                    tenant_id=tid,
                    username=user.username,
                    password_hash=hash_password(user.password),
                    role=user.role,
                    name=user.name,
                    department=getattr(user, "department", "market"),
                    org_id=user.org_id,
                    org_path=units[user.org_id].path if user.org_id else "/",
                    site_ids=list(user.site_ids),
                    created_at=datetime.now(UTC),
                )
            )
