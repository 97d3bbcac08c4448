"""``directory.v1``: the case-manager tells the other services every change of the directory it owns.

Every change of a tenant, org unit, site, camera binding or user is followed, in the same
transaction, by ``record_change``: it reads the entity as it is now (or finds it gone) and writes a
``DirectoryChanged`` with the entity's next version to the outbox. The ledger, the public API and the
stream gateway apply an event only when its version is above the one they hold, so a late or
repeated event changes nothing.

``publish_snapshot`` writes every entity of a tenant (and a tombstone for every entity that was
deleted), so a new consumer, or one that lost its read model, catches up. It runs at start-up, after
the demo seed and on demand. A snapshot keeps an entity's version when its state has not changed
since the last event (a consumer that has it ignores it; a new one applies it), and moves it on when
something changed the entity without an event (e.g. a seed that wrote rows directly).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bk_cases.db import enqueue, enqueue_many
from bk_cases.directory.models import (
    CameraBinding,
    DirectoryVersion,
    KitchenZone,
    OrgUnit,
    Site,
    Tenant,
    User,
)
from bkcore.bus.base import new_meta
from bkproto.events.v1.directory_pb2 import (
    CameraBindingState,
    DirectoryChanged,
    DirectoryKind,
    OrgUnitState,
    SiteState,
    TenantState,
    UserState,
    ZoneState,
)

TOPIC = "directory.v1"
PRODUCER = "case-manager"

#: The entity kinds of the directory, as callers name them, and their wire enum.
KINDS: dict[str, int] = {
    "tenant": DirectoryKind.DIRECTORY_KIND_TENANT,
    "org_unit": DirectoryKind.DIRECTORY_KIND_ORG_UNIT,
    "site": DirectoryKind.DIRECTORY_KIND_SITE,
    "camera": DirectoryKind.DIRECTORY_KIND_CAMERA,
    "user": DirectoryKind.DIRECTORY_KIND_USER,
}


@dataclass(frozen=True, slots=True)
class _State:
    """One entity's current state as it goes on the wire (``None``: the entity does not exist)."""

    field: str
    message: object | None


async def record_change(session: AsyncSession, *, tenant_id: str, kind: str, entity_id: str) -> None:
    """Publish the current state of one directory entity (its deletion too) with the caller's change.

    Call after the change, inside its transaction: the event is written to the outbox there, so it is
    published exactly when the change commits. ``kind`` is tenant, org_unit, site, camera or user;
    for a tenant, ``entity_id`` is the tenant id.
    """
    _check(tenant_id=tenant_id, kind=kind, entity_id=entity_id)
    await session.flush()  # the caller's pending change is what we read back
    state = await _load(session, tenant_id=tenant_id, kind=kind, entity_id=entity_id)
    payload = _payload(state)
    version = await _bump(session, tenant_id=tenant_id, kind=kind, entity_id=entity_id, digest=payload)
    await enqueue(session, TOPIC, _event(tenant_id, kind, entity_id, version, state, snapshot=False))


async def publish_snapshot(session: AsyncSession, *, tenant_id: str) -> int:
    """Write every entity of ``tenant_id`` (and a tombstone per deleted one) to the outbox; returns
    how many events. Order: the tenant, its units (root first), sites, cameras, users."""
    if not tenant_id:
        raise ValueError("publish_snapshot: tenant_id is required")
    await session.flush()
    table = DirectoryVersion.__table__
    versions = {
        (v.kind, v.entity_id): v
        for v in await session.execute(select(table).where(table.c.tenant_id == tenant_id))
    }
    present: list[tuple[str, str, _State]] = []
    tenant = await session.get(Tenant, tenant_id)
    if tenant is not None:
        present.append(("tenant", tenant_id, _tenant_state(tenant)))
    for unit in await session.scalars(
        select(OrgUnit).where(OrgUnit.tenant_id == tenant_id).order_by(OrgUnit.path)
    ):
        present.append(("org_unit", unit.id, _org_unit_state(unit)))
    zones = await _zones_by_site(session, tenant_id=tenant_id)
    timezone = tenant.timezone if tenant is not None else ""
    for site in await session.scalars(select(Site).where(Site.tenant_id == tenant_id).order_by(Site.id)):
        present.append(("site", site.id, _site_state(site, zones.get(site.id, []), timezone)))
    for cam in await session.scalars(
        select(CameraBinding).where(CameraBinding.tenant_id == tenant_id).order_by(CameraBinding.camera_id)
    ):
        present.append(("camera", cam.camera_id, _camera_state(cam)))
    for user in await session.scalars(select(User).where(User.tenant_id == tenant_id).order_by(User.id)):
        present.append(("user", user.id, _user_state(user)))

    seen = {(kind, entity_id) for kind, entity_id, _ in present}
    gone = [
        (kind, entity_id, _State(_FIELDS[kind], None))
        for kind, entity_id in versions
        if (kind, entity_id) not in seen and kind in KINDS
    ]
    events: list[tuple[str, DirectoryChanged]] = []
    for kind, entity_id, state in present + sorted(gone, key=lambda g: (g[0], g[1])):
        payload = _payload(state)
        row = versions.get((kind, entity_id))
        if row is not None and row.digest == payload:
            version = row.version
        else:
            version = await _bump(
                session, tenant_id=tenant_id, kind=kind, entity_id=entity_id, digest=payload
            )
        events.append((TOPIC, _event(tenant_id, kind, entity_id, version, state, snapshot=True)))
    await enqueue_many(session, events)
    return len(events)


async def tenant_ids(session: AsyncSession) -> Sequence[str]:
    """Every tenant the directory holds (what a start-up snapshot walks)."""
    return (await session.scalars(select(Tenant.id).order_by(Tenant.id))).all()


# --- reading one entity -------------------------------------------------------------------------

_FIELDS = {"tenant": "tenant", "org_unit": "org_unit", "site": "site", "camera": "camera", "user": "user"}


def _check(*, tenant_id: str, kind: str, entity_id: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"directory kind {kind!r} unknown; known: {sorted(KINDS)}")
    if not tenant_id or not entity_id:
        raise ValueError("directory change needs tenant_id and entity_id")
    if kind == "tenant" and entity_id != tenant_id:
        raise ValueError(f"a tenant's entity_id is its tenant id ({tenant_id!r}), not {entity_id!r}")


async def _load(session: AsyncSession, *, tenant_id: str, kind: str, entity_id: str) -> _State:
    field = _FIELDS[kind]
    if kind == "tenant":
        tenant = await session.get(Tenant, tenant_id)
        return _State(field, None) if tenant is None else _tenant_state(tenant)
    if kind == "org_unit":
        unit = await session.get(OrgUnit, (tenant_id, entity_id))
        return _State(field, None) if unit is None else _org_unit_state(unit)
    if kind == "site":
        site = await session.get(Site, (tenant_id, entity_id))
        if site is None:
            return _State(field, None)
        zones = (
            await session.scalars(
                select(KitchenZone)
                .where(KitchenZone.tenant_id == tenant_id, KitchenZone.site_id == entity_id)
                .order_by(KitchenZone.zone)
            )
        ).all()
        tenant = await session.get(Tenant, tenant_id)
        return _site_state(site, list(zones), tenant.timezone if tenant is not None else "")
    if kind == "camera":
        cam = await session.get(CameraBinding, (tenant_id, entity_id))
        return _State(field, None) if cam is None else _camera_state(cam)
    user = await session.get(User, entity_id)
    return _State(field, None) if user is None or user.tenant_id != tenant_id else _user_state(user)


async def _zones_by_site(session: AsyncSession, *, tenant_id: str) -> dict[str, list[KitchenZone]]:
    out: dict[str, list[KitchenZone]] = {}
    for z in await session.scalars(
        select(KitchenZone).where(KitchenZone.tenant_id == tenant_id).order_by(KitchenZone.zone)
    ):
        out.setdefault(z.site_id, []).append(z)
    return out


def _tenant_state(t: Tenant) -> _State:
    return _State("tenant", TenantState(name=t.name, timezone=t.timezone or ""))


def _org_unit_state(u: OrgUnit) -> _State:
    return _State(
        "org_unit", OrgUnitState(name=u.name, kind=u.kind, parent_id=u.parent_id or "", path=u.path)
    )


def _site_state(s: Site, zones: Sequence[KitchenZone], timezone: str) -> _State:
    has_coords = s.latitude is not None and s.longitude is not None
    return _State(
        "site",
        SiteState(
            name=s.name,
            kind=s.kind,
            org_id=s.org_id,
            org_path=s.org_path,
            address=s.address or "",
            latitude=s.latitude if has_coords else 0.0,
            longitude=s.longitude if has_coords else 0.0,
            has_coordinates=has_coords,
            opening_hours=s.opening_hours or "",
            timezone=timezone,
            zones=[ZoneState(zone=z.zone, name=z.name or "") for z in zones],
        ),
    )


def _camera_state(c: CameraBinding) -> _State:
    return _State("camera", CameraBindingState(site_id=c.site_id, zone=c.zone, name=c.name or ""))


def _user_state(u: User) -> _State:
    return _State(
        "user",
        UserState(
            username=u.username,
            role=u.role,
            name=u.name or "",
            department=u.department or "",
            org_id=u.org_id or "",
            org_path=u.org_path or "/",
            site_ids=list(u.site_ids or []),
            active=bool(u.active) if u.active is not None else True,
        ),
    )


# --- versions and the event ---------------------------------------------------------------------


def _payload(state: _State) -> str:
    """A digest of the state as published (the snapshot compares it to tell a change)."""
    body = b"" if state.message is None else state.message.SerializeToString(deterministic=True)  # type: ignore[attr-defined]
    return hashlib.sha256(state.field.encode() + b"\0" + body).hexdigest()


async def _bump(session: AsyncSession, *, tenant_id: str, kind: str, entity_id: str, digest: str) -> int:
    """The entity's next version (an upsert: the row lock orders concurrent changes of one entity)."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = DirectoryVersion.__table__
    stmt = insert(table).values(tenant_id=tenant_id, kind=kind, entity_id=entity_id, version=1, digest=digest)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.tenant_id, table.c.kind, table.c.entity_id],
        set_={"version": table.c.version + 1, "digest": digest},
    ).returning(table.c.version)
    return int((await session.execute(stmt)).scalar_one())


def _event(
    tenant_id: str, kind: str, entity_id: str, version: int, state: _State, *, snapshot: bool
) -> DirectoryChanged:
    event = DirectoryChanged(
        meta=new_meta(tenant_id=tenant_id, key=f"{kind}:{entity_id}", producer=PRODUCER),
        kind=KINDS[kind],  # type: ignore[arg-type]
        entity_id=entity_id,
        version=version,
        deleted=state.message is None,
        snapshot=snapshot,
    )
    if state.message is not None:
        getattr(event, state.field).CopyFrom(state.message)
    return event
