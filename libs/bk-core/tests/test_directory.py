"""bkcore.directory: the staff rule (pure), its cache, and the read model's ordering by version."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import MetaData

from bkcore.auth import AuthError, Principal, Role
from bkcore.db import Database, add_messaging_tables
from bkcore.directory import (
    REFUSED_DEACTIVATED,
    REFUSED_DELETED,
    DirectoryReadModel,
    DirectorySite,
    StaffAccess,
    StaffRecord,
    add_directory_tables,
    current_staff,
)
from bkcore.testing.directory import DirSite, site_event, tenant_event, user_event

SUP = Principal("minghu:sup", "minghu", Role.SUPERVISOR, org_path="/minghu/lakeside")


def record(**kw: object) -> StaffRecord:
    base: dict[str, object] = {
        "tenant_id": "minghu",
        "role": "supervisor",
        "org_path": "/minghu/lakeside",
        "site_ids": frozenset(),
    }
    return StaffRecord(**(base | kw))  # type: ignore[arg-type]


# --- the rule (fast tier) ------------------------------------------------------------------------


@pytest.mark.unit
def test_an_active_user_is_who_the_directory_says_now() -> None:
    moved = current_staff(SUP, record(org_path="/minghu/hillview"))
    assert moved.org_path == "/minghu/hillview"
    assert moved.can_see_org("minghu", "/minghu/hillview/x") and not moved.can_see_org(
        "minghu", "/minghu/lakeside"
    )
    manager = Principal("minghu:m", "minghu", Role.SITE_MANAGER, site_ids=frozenset({"a"}))
    now = current_staff(manager, record(role="site_manager", site_ids=frozenset({"b"})))
    assert now.site_ids == {"b"} and not now.can_see_site("minghu", "a", "/")


@pytest.mark.unit
@pytest.mark.parametrize(
    ("rec", "why"),
    [
        (record(active=False), REFUSED_DEACTIVATED),
        (record(deleted=True), REFUSED_DELETED),
        (record(tenant_id="other"), None),
        (record(role="parent"), None),
        (record(role="no-such-role"), None),
    ],
)
def test_a_user_the_directory_no_longer_admits_is_refused(rec: StaffRecord, why: str | None) -> None:
    with pytest.raises(AuthError) as exc:
        current_staff(SUP, rec)
    if why:
        assert str(exc.value) == why


@pytest.mark.unit
def test_parents_services_and_users_it_never_heard_of_keep_their_token() -> None:
    assert current_staff(SUP, None) is SUP
    parent = Principal("p1", "minghu", Role.PARENT)
    assert current_staff(parent, record(active=False)) is parent


@pytest.mark.unit
async def test_staff_access_caches_for_ttl_then_reads_again() -> None:
    now = [0.0]
    state = {"rec": record()}
    loads: list[str] = []

    async def load(tenant_id: str, user_id: str) -> StaffRecord | None:
        loads.append(user_id)
        return state["rec"]

    access = StaffAccess(load, service="test", ttl_s=30, clock=lambda: now[0])
    assert (await access.current(SUP)).org_path == "/minghu/lakeside"
    state["rec"] = record(active=False)  # deactivated in the directory
    now[0] = 29.0
    await access.current(SUP)  # still cached: at most ttl_s late
    now[0] = 30.0
    with pytest.raises(AuthError):
        await access.current(SUP)
    assert loads == ["minghu:sup", "minghu:sup"]
    access.forget("minghu", "minghu:sup")
    state["rec"] = record()
    assert await access.current(SUP)
    with pytest.raises(ValueError, match=r"0\.\.60"):
        StaffAccess(load, service="test", ttl_s=61)


# --- the read model (SQLite) ---------------------------------------------------------------------


@pytest.fixture
async def model(tmp_path: Path):  # type: ignore[no-untyped-def]
    metadata = MetaData()
    inbox, _ = add_messaging_tables(metadata)
    tables = add_directory_tables(metadata)
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'rm.sqlite'}")
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    seen: list[DirectorySite] = []

    async def on_site(_session, site: DirectorySite) -> None:  # type: ignore[no-untyped-def]
        seen.append(site)

    rm = DirectoryReadModel(db, tables, inbox, service="test", on_site=on_site, ttl_s=0)
    yield db, rm, seen
    await db.dispose()


async def test_events_apply_in_version_order_and_stale_ones_change_nothing(model) -> None:  # type: ignore[no-untyped-def]
    db, rm, seen = model
    north = DirSite("s1", "Canteen", "school_canteen", "/minghu/lakeside/north")
    south = DirSite("s1", "Canteen", "school_canteen", "/minghu/lakeside/south")
    async with db.session() as s:
        assert await rm.apply(s, site_event("minghu", south, version=2))
        assert not await rm.apply(s, site_event("minghu", north, version=1))  # late: ignored
        assert not await rm.apply(s, site_event("minghu", south, version=2))  # repeated: ignored
        held = await rm.site(s, tenant_id="minghu", site_id="s1")
    assert held is not None and held.org_path == "/minghu/lakeside/south"
    assert [x.org_path for x in seen] == ["/minghu/lakeside/south"]


async def test_deactivation_and_deletion_refuse_the_user(model) -> None:  # type: ignore[no-untyped-def]
    db, rm, _ = model
    async with db.session() as s:
        await rm.apply(s, user_event("minghu", "minghu:sup", role="supervisor", org_path="/minghu/lakeside"))
    assert (await rm.access.current(SUP)).org_path == "/minghu/lakeside"
    async with db.session() as s:
        await rm.apply(s, user_event("minghu", "minghu:sup", role="supervisor", active=False, version=2))
    with pytest.raises(AuthError, match="deactivated"):
        await rm.access.current(SUP)
    async with db.session() as s:
        await rm.apply(s, user_event("minghu", "minghu:sup", role="supervisor", deleted=True, version=3))
    with pytest.raises(AuthError, match="no longer exists"):
        await rm.access.current(SUP)


async def test_a_deleted_site_keeps_its_last_state_and_a_tenant_moves_its_sites_clock(model) -> None:  # type: ignore[no-untyped-def]
    db, rm, seen = model
    site = DirSite("s1", "Canteen", "school_canteen", "/minghu/x", timezone="Asia/Shanghai")
    async with db.session() as s:
        await rm.apply(s, site_event("minghu", site))
        await rm.apply(s, tenant_event("minghu", timezone="Asia/Urumqi"))
        assert (await rm.site(s, tenant_id="minghu", site_id="s1")).timezone == "Asia/Urumqi"  # type: ignore[union-attr]
        await rm.apply(s, site_event("minghu", site, version=2, deleted=True))
        gone = await rm.site(s, tenant_id="minghu", site_id="s1")
    assert gone is not None and gone.deleted and gone.name == "Canteen"
    assert [(x.timezone, x.deleted) for x in seen] == [
        ("Asia/Shanghai", False),
        ("Asia/Urumqi", False),
        ("Asia/Urumqi", True),
    ]
    assert await rm.known_sites(tenant_id="minghu", site_ids={"s1"}) == set()
