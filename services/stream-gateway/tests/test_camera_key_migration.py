"""Migration 0003 (cameras keyed by tenant and id) on a registry that already holds cameras and
credentials, on SQLite and on PostgreSQL (the server on 127.0.0.1:5432; the test fails when it is
unreachable): nothing is lost, and afterwards two tenants may each have a camera of the same id."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text

from bk_gateway import registry
from bk_gateway.schemas import CameraIn
from bk_gateway.service import MIGRATIONS
from bkcore.db import Database

PG_DSN = os.environ.get("BK_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
NOW = datetime(2026, 12, 1, tzinfo=UTC)
INSERT_CAMERA = (
    "INSERT INTO cameras (id, tenant_id, site_id, org_path, zone, name, source_url, live_source_url, "
    "sampling_mode, sample_fps, motion_gating, profile, schedule, enabled, rules_version, created_at, "
    "updated_at) VALUES (:id, :t, 's1', '/', 'prep', '', 'sim:cooking', '', 'fps', 1.0, false, '{}', '[]', "
    "true, 3, :now, :now)"
)
INSERT_CREDENTIALS = (
    "INSERT INTO camera_credentials (camera_id, username, password) VALUES ('kitchen-1', 'admin', 'pw')"
)


def _upgrade(sync_conn: Any, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = sync_conn
    command.upgrade(cfg, revision)


async def _check(db: Database) -> None:
    async with db.engine.begin() as conn:
        await conn.run_sync(_upgrade, "0002")
        for cam, tenant in (("kitchen-1", "minghu"), ("kitchen-2", "riverside")):
            await conn.execute(text(INSERT_CAMERA), {"id": cam, "t": tenant, "now": NOW})
        await conn.execute(text(INSERT_CREDENTIALS))
    await db.migrate(MIGRATIONS)  # to head: 0003
    async with db.session() as s:
        specs = {sp.key: sp for sp in await registry.specs(session=s)}
        assert set(specs) == {("minghu", "kitchen-1"), ("riverside", "kitchen-2")}
        assert (specs[("minghu", "kitchen-1")].username, specs[("minghu", "kitchen-1")].password) == (
            "admin",
            "pw",
        )
        assert specs[("minghu", "kitchen-1")].rules_version == 3
        # The other tenant takes the same id: a second camera, the first untouched.
        body = CameraIn(id="kitchen-1", site_id="b1", zone="cooking", source_url="sim:cooking", username="u2")
        await registry.upsert(session=s, data=body, tenant_id="riverside", now=NOW)
    async with db.session() as s:
        specs = {sp.key: sp for sp in await registry.specs(session=s)}
        assert specs[("riverside", "kitchen-1")].username == "u2"
        assert specs[("minghu", "kitchen-1")].username == "admin"
        cam = await registry.get(session=s, tenant_id="minghu", camera_id="kitchen-1")
        assert cam is not None
        await registry.delete(session=s, camera=cam)
    async with db.session() as s:
        keys = await registry.credential_keys(session=s)
        assert keys == {("riverside", "kitchen-1")}  # the deleted camera's credentials went with it


async def test_migration_on_sqlite(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'gw.sqlite'}")
    try:
        await _check(db)
    finally:
        await db.dispose()


@pytest.mark.integration
async def test_migration_on_postgres() -> None:
    name = f"bk_gw_{uuid.uuid4().hex[:10]}"
    try:
        admin = await asyncpg.connect(PG_DSN, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        raise RuntimeError(
            f"PostgreSQL is required for this test and is unreachable at {PG_DSN}: {exc}"
        ) from exc
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        base = PG_DSN.rsplit("/", 1)[0].split("://", 1)[1]
        db = Database(f"postgresql+asyncpg://{base}/{name}", schema="stream_gateway", pool_size=2)
        try:
            async with db.engine.begin() as conn:
                await conn.execute(text('CREATE SCHEMA IF NOT EXISTS "stream_gateway"'))
            await _check(db)
        finally:
            await db.dispose()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
