"""``directory.v1`` events for tests of a service alone: what the case-manager would publish.

A service test feeds its read model the directory the way production does (events on the bus),
never by writing the read model's rows itself.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from bkcore.bus.base import Bus, new_meta
from bkproto.events.v1.directory_pb2 import (
    DirectoryChanged,
    DirectoryKind,
    SiteState,
    TenantState,
    UserState,
)

TOPIC = "directory.v1"


@dataclass(frozen=True)
class DirSite:
    """A site as a test's directory holds it (positional like the tests' old site seeds)."""

    site_id: str
    name: str
    kind: str
    org_path: str
    opening: str = "06:30-19:30"
    timezone: str = "Asia/Shanghai"


def site_event(tenant_id: str, site: DirSite, *, version: int = 1, deleted: bool = False) -> DirectoryChanged:
    state = SiteState(
        name=site.name,
        kind=site.kind,
        org_id=site.org_path.rstrip("/").rsplit("/", 1)[-1],
        org_path=site.org_path,
        opening_hours=site.opening,
        timezone=site.timezone,
    )
    return DirectoryChanged(
        meta=new_meta(tenant_id=tenant_id, key=f"site:{site.site_id}", producer="test-directory"),
        kind=DirectoryKind.DIRECTORY_KIND_SITE,
        entity_id=site.site_id,
        version=version,
        deleted=deleted,
        site=None if deleted else state,
    )


def user_event(
    tenant_id: str,
    user_id: str,
    *,
    role: str,
    org_path: str = "/",
    site_ids: Iterable[str] = (),
    active: bool = True,
    version: int = 1,
    deleted: bool = False,
) -> DirectoryChanged:
    state = UserState(
        username=user_id, role=role, org_path=org_path, site_ids=sorted(site_ids), active=active
    )
    return DirectoryChanged(
        meta=new_meta(tenant_id=tenant_id, key=f"user:{user_id}", producer="test-directory"),
        kind=DirectoryKind.DIRECTORY_KIND_USER,
        entity_id=user_id,
        version=version,
        deleted=deleted,
        user=None if deleted else state,
    )


def tenant_event(tenant_id: str, *, timezone: str = "Asia/Shanghai", version: int = 1) -> DirectoryChanged:
    return DirectoryChanged(
        meta=new_meta(tenant_id=tenant_id, key=f"tenant:{tenant_id}", producer="test-directory"),
        kind=DirectoryKind.DIRECTORY_KIND_TENANT,
        entity_id=tenant_id,
        version=version,
        tenant=TenantState(name=tenant_id, timezone=timezone),
    )


async def publish(bus: Bus, events: Iterable[DirectoryChanged]) -> None:
    await bus.publish_many([(TOPIC, e) for e in events])


async def eventually(
    check: Callable[[], Awaitable[bool]], *, timeout_s: float = 30.0, what: str = ""
) -> None:
    """Wait until ``check()`` holds (the consumer runs on its own task); fail naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while True:
        if await check():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:g} s: {what or check}")
        await asyncio.sleep(0.02)
