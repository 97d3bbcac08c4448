"""A fresh PostgreSQL database on the local server for one test run, dropped afterwards.

The python-svc machines (and CI) run PostgreSQL on 127.0.0.1:5432 with trust auth. Override with
``BK_TEST_PG_DSN`` (a libpq/asyncpg DSN to an admin database). If the server cannot be reached the
caller gets an error naming what is missing — tests fail loudly, never skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator

import asyncpg

DEFAULT_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


class PostgresUnavailable(RuntimeError):
    pass


def admin_dsn() -> str:
    return os.environ.get("BK_TEST_PG_DSN", DEFAULT_ADMIN_DSN)


async def _connect(dsn: str) -> asyncpg.Connection:
    try:
        return await asyncio.wait_for(asyncpg.connect(dsn), timeout=10)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        raise PostgresUnavailable(
            f"PostgreSQL is not reachable at {dsn} ({exc}). Start it (on python-svc machines: "
            "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) or set "
            "BK_TEST_PG_DSN."
        ) from exc


@contextlib.asynccontextmanager
async def temporary_database(prefix: str = "bk_test") -> AsyncIterator[str]:
    """Create an empty database; yield its SQLAlchemy asyncpg URL; drop it on exit."""
    dsn = admin_dsn()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = await _connect(dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = dsn.rsplit("/", 1)[0]
    try:
        yield "postgresql+asyncpg://" + f"{base}/{name}".split("://", 1)[1]
    finally:
        conn = await _connect(dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
