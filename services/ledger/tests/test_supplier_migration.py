"""Migration 0005 on SQLite and PostgreSQL: per-site supplier rows merged into one supplier of the
tenant per licence (spacing and case ignored), tenants kept apart, and the downgrade exact."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg
import pytest
import sqlalchemy as sa

from bk_ledger.db import MIGRATIONS, all_tables
from bkcore.db import Database, database_url

PG = os.environ.get("BK_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
CODE = "91350100M000100Y43"
OTHER = "91330106MA2B3C4D5" + "X"  # the migration merges what it finds, valid or not


def _alembic(sync_conn, target: str, down: bool = False) -> None:  # type: ignore[no-untyped-def]
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = sync_conn
    (command.downgrade if down else command.upgrade)(cfg, target)


def _row(i: int, tenant: str, site: str, code: str, name: str) -> dict[str, object]:
    return {
        "id": f"s{i}",
        "tenant_id": tenant,
        "site_id": site,
        "org_path": f"/{tenant}/{site}",
        "created_at": datetime(2026, 9, 1, i, tzinfo=UTC),
        "created_by": "u",
        "name": name,
        "address": "a",
        "contact": "c",
        "phone": "0571-88886666",
        "business_licence_no": code,
        "business_licence_expires": None,
        "food_licence_no": "JY13301000001",
        "food_licence_expires": date(2027, 12, 31),
        "licence_photos": [],
    }


TYPES = {
    "created_at": sa.DateTime(timezone=True),
    "business_licence_expires": sa.Date(),
    "food_licence_expires": sa.Date(),
    "licence_photos": sa.JSON(),
}
ROWS = [
    _row(1, "minghu", "lake", CODE, "明湖豆制品厂"),
    _row(2, "minghu", "hill", CODE.lower(), "明湖豆制品"),
    _row(3, "minghu", "river", f" {CODE[:9]} {CODE[9:]} ", "明湖豆制品有限公司"),
    _row(4, "minghu", "lake", OTHER, "山景蛋品"),
    _row(5, "riverton", "school", CODE, "Riverton Tofu"),
]


async def _run(db: Database) -> None:
    all_tables()
    if db.schema:
        async with db.engine.begin() as conn:
            await conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{db.schema}"'))
    async with db.engine.begin() as conn:
        await conn.run_sync(_alembic, "0004")
        old = sa.table("suppliers", *[sa.column(k, TYPES.get(k)) for k in ROWS[0]])
        await conn.execute(old.insert(), ROWS)
    async with db.engine.begin() as conn:
        await conn.run_sync(_alembic, "0005")
        ten = (
            await conn.execute(sa.text("SELECT id, tenant_id, licence_no, name FROM tenant_suppliers"))
        ).all()
        links = dict((await conn.execute(sa.text("SELECT id, tenant_supplier_id FROM suppliers"))).all())
    by_key = {(t.tenant_id, t.licence_no): t for t in ten}
    assert set(by_key) == {("minghu", CODE), ("minghu", OTHER), ("riverton", CODE)}
    assert by_key[("minghu", CODE)].name == "明湖豆制品厂"  # the oldest registration's name
    tofu = by_key[("minghu", CODE)].id
    assert links == {
        "s1": tofu,
        "s2": tofu,
        "s3": tofu,
        "s4": by_key[("minghu", OTHER)].id,
        "s5": by_key[("riverton", CODE)].id,
    }
    async with db.engine.begin() as conn:
        await conn.run_sync(_alembic, "0004", True)
        cols = await conn.run_sync(lambda c: {x["name"] for x in sa.inspect(c).get_columns("suppliers")})
        tables = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
        kept = (
            await conn.execute(sa.text("SELECT id, business_licence_no FROM suppliers ORDER BY id"))
        ).all()
    assert "tenant_supplier_id" not in cols and not {"tenant_suppliers", "recalls", "recall_sites"} & tables
    assert [tuple(k) for k in kept] == [(r["id"], r["business_licence_no"]) for r in ROWS]
    async with db.engine.begin() as conn:  # and up again, to head
        await conn.run_sync(_alembic, "head")


async def test_merge_by_licence_on_sqlite(tmp_path: Path) -> None:
    db = Database(database_url("", tmp_path, "ledger"))
    try:
        await _run(db)
    finally:
        await db.dispose()


@pytest.mark.integration
async def test_merge_by_licence_on_postgres() -> None:
    try:
        conn = await asyncpg.connect(PG, timeout=10)
    except Exception as exc:
        pytest.fail(f"PostgreSQL at {PG} is required for this test and is unreachable: {exc!r}")
    schema = f"ledger_mig_{uuid.uuid4().hex[:8]}"
    db = Database(database_url(PG, Path("."), "ledger"), schema=schema)
    try:
        await _run(db)
    finally:
        await db.dispose()
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()
