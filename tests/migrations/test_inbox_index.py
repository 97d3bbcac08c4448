"""Every service's migrations give ``bus_inbox`` the index retention deletes by (#17.12), on SQLite
and on PostgreSQL, and a retention run on the migrated tables deletes what is due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import MetaData, insert, inspect, select

from bkcore.db import Database
from bkcore.retention import MessagingRetention, RetentionPolicy
from bkcore.testing.postgres import temporary_database

pytestmark = pytest.mark.timeout(300)


def _services() -> dict[str, tuple[Path, str]]:
    from bk_cases.db import MIGRATIONS as cases
    from bk_gateway.service import MIGRATIONS as gateway
    from bk_ledger.db import MIGRATIONS as ledger
    from bk_public.service import MIGRATIONS as public

    return {
        "case-manager": (cases, "cases"), "ledger": (ledger, "ledger"),
        "public-api": (public, "public_api"), "stream-gateway": (gateway, "stream_gateway"),
    }  # fmt: skip


def _indexes(sync_conn) -> set[str]:  # type: ignore[no-untyped-def]
    return {i["name"] for i in inspect(sync_conn).get_indexes("bus_inbox")}


@pytest.mark.parametrize("service", ["case-manager", "ledger", "public-api", "stream-gateway"])
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
async def test_migrations_index_the_inbox_for_retention(service: str, backend: str, tmp_path: Path) -> None:
    migrations, schema = _services()[service]
    if backend == "sqlite":
        await _check(Database(f"sqlite+aiosqlite:///{tmp_path / 'm.sqlite'}"), service, migrations)
    else:
        async with temporary_database("bk_inbox_index") as url:
            await _check(Database(url, schema=schema), service, migrations)


async def _check(db: Database, service: str, migrations: Path) -> None:
    try:
        await db.migrate(migrations)
        async with db.engine.connect() as conn:
            assert "ix_bus_inbox_handled_at" in await conn.run_sync(_indexes)
            metadata = MetaData()
            await conn.run_sync(lambda c: metadata.reflect(c, only=["bus_inbox", "bus_outbox"]))
        inbox, outbox = metadata.tables["bus_inbox"], metadata.tables["bus_outbox"]
        now = datetime.now(UTC)
        async with db.session() as s:
            await s.execute(insert(inbox), [
                {"consumer": "c", "event_id": "old", "handled_at": now - timedelta(days=31)},
                {"consumer": "c", "event_id": "new", "handled_at": now - timedelta(days=1)},
            ])  # fmt: skip
        swept = await MessagingRetention(db, outbox, inbox, RetentionPolicy(service=service)).run_once(now)
        assert (swept.inbox, swept.outbox, swept.pending) == (1, 0, 0)
        async with db.session() as s:
            assert [r.event_id for r in (await s.execute(select(inbox.c.event_id))).all()] == ["new"]
    finally:
        await db.dispose()
