"""The directory as every service enforces it: staff access checked against the current directory,
and the read model the services other than its owner keep of it.

The case-manager owns tenants, org units, sites and users and publishes every change on
``directory.v1`` (``bk_cases.directory.events``). A token says who the caller was when they logged in;
``StaffAccess`` says who they are now: a deactivated or deleted user is refused, and a changed role,
org unit or site list applies, within ``ttl_s`` (at most a minute) rather than when the token expires.

``DirectoryReadModel`` is the consumer side, shared by the ledger, the public API and the stream
gateway: it applies an event only when its version is above the one held (late and repeated events
change nothing), keeps users (for ``StaffAccess``), sites and tenants, and tells the service of each
site change through ``on_site`` (the ledger's site table, the gateway's cameras) in the same
transaction.

What the read model has never heard of, it cannot judge: a user with no row there (a user created a
moment ago whose event is still on its way) keeps the token's claims. Every fact that narrows access —
deactivation, deletion (a tombstone, also in snapshots), a move — arrives as a row, and is enforced.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter
from sqlalchemy import JSON, BigInteger, Boolean, Column, Integer, MetaData, String, Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from bkcore.auth import STAFF_ROLES, AuthError, Principal, Role
from bkcore.bus.base import Bus, Delivery
from bkcore.db import Database, claim_event
from bkproto.events.v1.directory_pb2 import DirectoryChanged, DirectoryKind

log = logging.getLogger(__name__)

TOPIC = "directory.v1"
#: The longest a staff check may lag the directory (the issue's "within a minute").
MAX_TTL_S = 60.0

DIRECTORY_APPLIED = Counter(
    "bk_directory_events_total",
    "directory.v1 events a service's read model received, by kind and outcome (applied, stale)",
    ["service", "kind", "outcome"],
)
STAFF_REFUSED = Counter(
    "bk_directory_staff_refused_total",
    "staff requests refused because the current directory no longer admits the token's user",
    ["service", "reason"],
)

REFUSED_DEACTIVATED = "账号已停用 · this user has been deactivated"
REFUSED_DELETED = "用户已删除 · this user no longer exists"
REFUSED_CHANGED = "账号已变更，请重新登录 · this user's account changed; log in again"


# --- staff access (pure rule + a short cache) ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class StaffRecord:
    """A staff user as the directory holds them now."""

    tenant_id: str
    role: str
    org_path: str
    site_ids: frozenset[str]
    active: bool = True
    deleted: bool = False
    name: str = ""


def current_staff(principal: Principal, record: StaffRecord | None) -> Principal:
    """The caller as the directory admits them now; raises ``AuthError`` when it no longer does.

    Non-staff callers (parents, services) and staff the directory has no row for pass unchanged.
    """
    if principal.role not in STAFF_ROLES or record is None:
        return principal
    if record.deleted:
        raise AuthError(REFUSED_DELETED)
    if not record.active:
        raise AuthError(REFUSED_DEACTIVATED)
    try:
        role = Role(record.role)
    except ValueError:
        raise AuthError(REFUSED_CHANGED) from None
    if record.tenant_id != principal.tenant_id or role not in STAFF_ROLES:
        raise AuthError(REFUSED_CHANGED)
    org_path = record.org_path if record.org_path.startswith("/") else "/"
    return dataclasses.replace(principal, role=role, org_path=org_path, site_ids=record.site_ids)


StaffLoader = Callable[[str, str], Awaitable[StaffRecord | None]]


class StaffAccess:
    """``current_staff`` with the record read through ``load(tenant_id, user_id)`` and kept ``ttl_s``.

    One database read per user per ``ttl_s`` at most; ``forget`` drops a user at once (the replica that
    applies a change does not wait for its own cache).
    """

    def __init__(
        self,
        load: StaffLoader,
        *,
        service: str,
        ttl_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 50_000,
    ) -> None:
        if not 0 <= ttl_s <= MAX_TTL_S:
            raise ValueError(f"staff access ttl_s must be within 0..{MAX_TTL_S:g} s, got {ttl_s}")
        self._load, self._service, self._ttl_s, self._clock = load, service, ttl_s, clock
        self._max_entries = max_entries
        self._cache: dict[tuple[str, str], tuple[float, StaffRecord | None]] = {}

    @property
    def ttl_s(self) -> float:
        return self._ttl_s

    async def current(self, principal: Principal) -> Principal:
        if principal.role not in STAFF_ROLES:
            return principal
        key = (principal.tenant_id, principal.subject)
        hit = self._cache.get(key)
        now = self._clock()
        if hit is None or hit[0] <= now:
            record = await self._load(*key)
            if len(self._cache) >= self._max_entries:
                self._cache.clear()
            self._cache[key] = (now + self._ttl_s, record)
        else:
            record = hit[1]
        try:
            return current_staff(principal, record)
        except AuthError as exc:
            STAFF_REFUSED.labels(self._service, _reason(str(exc))).inc()
            raise

    def forget(self, tenant_id: str, user_id: str) -> None:
        self._cache.pop((tenant_id, user_id), None)


def _reason(message: str) -> str:
    return {REFUSED_DEACTIVATED: "deactivated", REFUSED_DELETED: "deleted"}.get(message, "changed")


# --- the read model ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DirectoryTables:
    users: Table
    sites: Table
    tenants: Table


def add_directory_tables(metadata: MetaData) -> DirectoryTables:
    """Declare the read model's tables on a service's metadata (``directory_*``)."""
    made = {name.removeprefix("directory_"): Table(name, metadata, *cols()) for name, cols in _SHAPES.items()}
    return DirectoryTables(**made)


def create_directory_tables(op: Any) -> None:
    """For a service's Alembic migration: create the read model's tables (one shape, here)."""
    for name, cols in _SHAPES.items():
        op.create_table(name, *cols())


def drop_directory_tables(op: Any) -> None:
    for name in reversed(list(_SHAPES)):
        op.drop_table(name)


def _version() -> Column[Any]:
    return Column("version", BigInteger().with_variant(Integer, "sqlite"), nullable=False)


def _user_columns() -> list[Column[Any]]:
    return [
        Column("tenant_id", String(64), primary_key=True),
        Column("user_id", String(64), primary_key=True),
        Column("role", String(32), nullable=False),
        Column("org_path", String(500), nullable=False),
        Column("site_ids", JSON, nullable=False),
        Column("name", String(200), nullable=False),
        Column("active", Boolean, nullable=False),
        Column("deleted", Boolean, nullable=False),
        _version(),
    ]


def _site_columns() -> list[Column[Any]]:
    return [
        Column("tenant_id", String(64), primary_key=True),
        Column("site_id", String(64), primary_key=True),
        Column("name", String(200), nullable=False),
        Column("kind", String(40), nullable=False),
        Column("org_id", String(64), nullable=False),
        Column("org_path", String(500), nullable=False),
        Column("address", String(300), nullable=False),
        Column("opening_hours", String(64), nullable=False),
        Column("timezone", String(64), nullable=False),
        Column("deleted", Boolean, nullable=False),
        _version(),
    ]


def _tenant_columns() -> list[Column[Any]]:
    return [
        Column("tenant_id", String(64), primary_key=True),
        Column("name", String(200), nullable=False),
        Column("timezone", String(64), nullable=False),
        Column("deleted", Boolean, nullable=False),
        _version(),
    ]


_SHAPES: dict[str, Callable[[], list[Column[Any]]]] = {
    "directory_tenants": _tenant_columns,
    "directory_sites": _site_columns,
    "directory_users": _user_columns,
}


@dataclass(frozen=True, slots=True)
class DirectorySite:
    """A site as the read model holds it (``deleted``: the case-manager removed it)."""

    tenant_id: str
    site_id: str
    name: str
    kind: str
    org_id: str
    org_path: str
    address: str
    opening_hours: str
    timezone: str
    deleted: bool


#: Called with every site change, in the applying transaction (the service's own projection).
SiteHook = Callable[[AsyncSession, DirectorySite], Awaitable[None]]

_KIND_NAMES = {v: k.removeprefix("DIRECTORY_KIND_").lower() for k, v in DirectoryKind.items()}


class DirectoryReadModel:
    """A service's read model of the directory, fed by ``directory.v1`` exactly once (inbox)."""

    def __init__(
        self,
        db: Database,
        tables: DirectoryTables,
        inbox: Table,
        *,
        service: str,
        on_site: SiteHook | None = None,
        ttl_s: float = 30.0,
    ) -> None:
        self._db, self._t, self._inbox = db, tables, inbox
        self._service = service
        self._on_site = on_site
        self._ready: Callable[[], Awaitable[None]] | None = None
        self.access = StaffAccess(self._load_staff, service=service, ttl_s=ttl_s)

    def subscribe(self, bus: Bus, group: str, *, ready: Callable[[], Awaitable[None]] | None = None) -> None:
        """Consume ``directory.v1`` as ``group``; ``ready`` is awaited first (e.g. the migration)."""
        self._ready = ready
        bus.subscribe(TOPIC, group, self.handle, max_attempts=5)

    async def handle(self, delivery: Delivery) -> None:
        if self._ready is not None:
            await self._ready()
        async with self._db.session() as session:
            if not await claim_event(
                session, self._inbox, consumer=f"{self._service}:directory", event_id=delivery.event_id
            ):
                return
            await self.apply(session, delivery.event)  # type: ignore[arg-type]

    async def apply(self, session: AsyncSession, event: DirectoryChanged) -> bool:
        """Apply one event in ``session``; False when it is not newer than what is held."""
        kind = _KIND_NAMES.get(event.kind, "unspecified")
        tenant_id = event.meta.tenant_id
        if not tenant_id or not event.entity_id:
            raise ValueError("directory.v1 event without tenant or entity id")
        apply = {"user": self._apply_user, "site": self._apply_site, "tenant": self._apply_tenant}.get(kind)
        if apply is None:  # org units and camera bindings: nothing here reads them (sites carry paths)
            DIRECTORY_APPLIED.labels(self._service, kind, "ignored").inc()
            return False
        applied = await apply(session, tenant_id, event)
        DIRECTORY_APPLIED.labels(self._service, kind, "applied" if applied else "stale").inc()
        return applied

    async def site(self, session: AsyncSession, *, tenant_id: str, site_id: str) -> DirectorySite | None:
        t = self._t.sites
        row = (
            await session.execute(select(t).where(t.c.tenant_id == tenant_id, t.c.site_id == site_id))
        ).first()
        return _site(row) if row is not None else None

    async def known_sites(self, *, tenant_id: str, site_ids: Collection[str]) -> set[str]:
        """Which of ``site_ids`` the read model holds (not deleted)."""
        t = self._t.sites
        async with self._db.session() as session:
            rows = await session.execute(
                select(t.c.site_id).where(
                    t.c.tenant_id == tenant_id, t.c.site_id.in_(list(site_ids)), t.c.deleted.is_(False)
                )
            )
            return {r[0] for r in rows}

    # --- one kind each --------------------------------------------------------------------------

    async def _newer(
        self, session: AsyncSession, table: Table, key: dict[str, str], version: int
    ) -> bool | None:
        """True: a row exists and is older; None: no row; False: the held row is as new or newer."""
        cond = [table.c[k] == v for k, v in key.items()]
        held = (await session.execute(select(table.c.version).where(*cond))).scalar_one_or_none()
        if held is None:
            return None
        return int(held) < version

    async def _upsert(
        self, session: AsyncSession, table: Table, key: dict[str, str], version: int, values: dict[str, Any]
    ) -> bool:
        newer = await self._newer(session, table, key, version)
        if newer is False:
            return False
        values = {**values, "version": version}
        if newer is None:
            await session.execute(table.insert().values(**key, **values))
        else:
            cond = [table.c[k] == v for k, v in key.items()]
            await session.execute(table.update().where(*cond).values(**values))
        return True

    async def _apply_user(self, session: AsyncSession, tenant_id: str, e: DirectoryChanged) -> bool:
        u = e.user
        values = {
            "role": u.role,
            "org_path": u.org_path or "/",
            "site_ids": sorted(u.site_ids),
            "name": u.name,
            "active": bool(u.active) and not e.deleted,
            "deleted": e.deleted,
        }
        key = {"tenant_id": tenant_id, "user_id": e.entity_id}
        applied = await self._upsert(session, self._t.users, key, e.version, values)
        if applied:
            self.access.forget(tenant_id, e.entity_id)
        return applied

    async def _apply_site(self, session: AsyncSession, tenant_id: str, e: DirectoryChanged) -> bool:
        s = e.site
        timezone = s.timezone or await self._tenant_timezone(session, tenant_id)
        values = {
            "name": s.name,
            "kind": s.kind,
            "org_id": s.org_id,
            "org_path": s.org_path or "/",
            "address": s.address,
            "opening_hours": s.opening_hours,
            "timezone": timezone,
            "deleted": e.deleted,
        }
        if e.deleted:  # keep what was known of it, so its old records still read sensibly
            held = await self.site(session, tenant_id=tenant_id, site_id=e.entity_id)
            if held is not None:
                values = {**dataclasses.asdict(held), "deleted": True}
                values.pop("tenant_id"), values.pop("site_id")
        key = {"tenant_id": tenant_id, "site_id": e.entity_id}
        if not await self._upsert(session, self._t.sites, key, e.version, values):
            return False
        if self._on_site is not None:
            await self._on_site(session, DirectorySite(tenant_id=tenant_id, site_id=e.entity_id, **values))
        return True

    async def _apply_tenant(self, session: AsyncSession, tenant_id: str, e: DirectoryChanged) -> bool:
        values = {"name": e.tenant.name, "timezone": e.tenant.timezone, "deleted": e.deleted}
        if not await self._upsert(session, self._t.tenants, {"tenant_id": tenant_id}, e.version, values):
            return False
        if e.deleted or not e.tenant.timezone:
            return True
        t = self._t.sites  # a site's local day follows its tenant's timezone
        moved = (
            await session.execute(
                select(t).where(t.c.tenant_id == tenant_id, t.c.timezone != e.tenant.timezone)
            )
        ).all()
        for row in moved:
            await session.execute(
                t.update()
                .where(t.c.tenant_id == tenant_id, t.c.site_id == row.site_id)
                .values(timezone=e.tenant.timezone)
            )
            if self._on_site is not None:
                await self._on_site(session, dataclasses.replace(_site(row), timezone=e.tenant.timezone))
        return True

    async def _tenant_timezone(self, session: AsyncSession, tenant_id: str) -> str:
        t = self._t.tenants
        tz = (
            await session.execute(select(t.c.timezone).where(t.c.tenant_id == tenant_id))
        ).scalar_one_or_none()
        return tz or ""

    async def _load_staff(self, tenant_id: str, user_id: str) -> StaffRecord | None:
        t = self._t.users
        async with self._db.session() as session:
            row = (
                await session.execute(select(t).where(t.c.tenant_id == tenant_id, t.c.user_id == user_id))
            ).first()
        if row is None:
            return None
        return StaffRecord(
            tenant_id=row.tenant_id,
            role=row.role,
            org_path=row.org_path,
            site_ids=frozenset(row.site_ids or ()),
            active=bool(row.active),
            deleted=bool(row.deleted),
            name=row.name,
        )


def _site(row: Any) -> DirectorySite:
    return DirectorySite(
        tenant_id=row.tenant_id,
        site_id=row.site_id,
        name=row.name,
        kind=row.kind,
        org_id=row.org_id,
        org_path=row.org_path,
        address=row.address,
        opening_hours=row.opening_hours,
        timezone=row.timezone,
        deleted=bool(row.deleted),
    )
