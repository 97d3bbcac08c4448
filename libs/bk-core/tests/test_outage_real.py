"""Outage or poison, on errors the real libraries raise against real servers and dead ports.

A dead port on loopback is exactly what a consumer sees when PostgreSQL, the broker, the bucket or an
upstream is down; the PostgreSQL cases that need a live server (timeouts, constraints) use the
machine's server (``bkcore.testing.postgres``), which fails loudly when it cannot be reached.
"""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

import grpc
import grpc.aio
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bkcore.objstore import ObjectNotFound, S3ObjectStore
from bkcore.objstore.local import LocalObjectStore
from bkcore.outage import is_outage
from bkcore.testing.postgres import temporary_database

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def dead_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def error_of(call: Awaitable[object], timeout_s: float = 30.0) -> BaseException:
    try:
        async with asyncio.timeout(timeout_s):
            await call
    except Exception as exc:
        return exc
    raise AssertionError("expected an error")


@pytest.fixture
async def pg() -> AsyncIterator[AsyncEngine]:
    async with temporary_database("bk_outage") as url:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE item (id int PRIMARY KEY, name varchar(8))"))
            await conn.execute(text("INSERT INTO item VALUES (1, 'one')"))
        try:
            yield engine
        finally:
            await engine.dispose()


async def test_database_down_is_an_outage() -> None:
    engine = create_async_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{dead_port()}/postgres")
    try:
        exc = await error_of(_select_one(engine))
    finally:
        await engine.dispose()
    assert is_outage(exc), repr(exc)


async def _select_one(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def test_statement_and_lock_timeouts_are_outages(pg: AsyncEngine) -> None:
    async with pg.connect() as conn:
        await conn.execute(text("SET statement_timeout = '50ms'"))
        slow = await error_of(conn.execute(text("SELECT pg_sleep(2)")))
    assert "statement timeout" in str(slow) and is_outage(slow)
    async with pg.connect() as holder, pg.connect() as waiter:
        await holder.execute(text("SELECT * FROM item WHERE id = 1 FOR UPDATE"))
        await waiter.execute(text("SET lock_timeout = '50ms'"))
        locked = await error_of(waiter.execute(text("UPDATE item SET name = 'uno' WHERE id = 1")))
        await holder.rollback()
    assert "lock timeout" in str(locked) and is_outage(locked)


async def test_constraints_that_never_pass_are_poison(pg: AsyncEngine) -> None:
    async with pg.connect() as conn:
        duplicate = await error_of(conn.execute(text("INSERT INTO item VALUES (1, 'again')")))
    async with pg.connect() as conn:
        too_long = await error_of(conn.execute(text("INSERT INTO item VALUES (2, 'far too long a name')")))
    assert "duplicate key" in str(duplicate) and not is_outage(duplicate)
    assert "too long" in str(too_long) and not is_outage(too_long)


async def test_sqlite_locked_by_another_writer_is_an_outage(tmp_path: Path) -> None:
    path = tmp_path / "svc.sqlite"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}", connect_args={"timeout": 0.05})
    try:
        async with engine.connect() as conn:
            locked = await error_of(conn.execute(text("INSERT INTO t VALUES (1)")))
    finally:
        holder.close()
        await engine.dispose()
    assert "locked" in str(locked) and is_outage(locked)


async def test_broker_down_is_an_outage() -> None:
    producer = AIOKafkaProducer(bootstrap_servers=f"127.0.0.1:{dead_port()}", request_timeout_ms=2000)
    try:
        exc = await error_of(producer.start())
    finally:
        await producer.stop()
    assert is_outage(exc), repr(exc)


async def test_object_store_down_is_an_outage_a_missing_object_is_not(tmp_path: Path) -> None:
    store = S3ObjectStore(f"127.0.0.1:{dead_port()}", "key", "secret", "bk-evidence")
    down = await error_of(store.get("t-1/evidence/raw.jpg"))
    assert is_outage(down), repr(down)
    local = LocalObjectStore(tmp_path / "objects", "s" * 32, "http://test/objects")
    missing = await error_of(local.get("t-1/evidence/gone.jpg"))
    assert isinstance(missing, ObjectNotFound) and not is_outage(missing)


async def test_upstream_http_and_grpc_down_are_outages() -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        refused = await error_of(client.get(f"http://127.0.0.1:{dead_port()}/api/cases"))
    assert is_outage(refused), repr(refused)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{dead_port()}") as channel:
        call = channel.unary_unary("/bk.Detector/Detect")
        unavailable = await error_of(call(b"", timeout=5))
    assert isinstance(unavailable, grpc.RpcError) and is_outage(unavailable)


async def test_dns_failure_is_an_outage() -> None:
    loop = asyncio.get_running_loop()
    exc = await error_of(loop.getaddrinfo("bk-no-such-host.invalid", 5432), timeout_s=20)
    assert isinstance(exc, socket.gaierror) and is_outage(exc)


def test_asking_loads_no_broker_or_driver_library() -> None:
    """The embedded mode classifies without importing aiokafka, asyncpg, minio or grpc."""
    code = (
        "import sys, bkcore.bus, bkcore.outage; "
        "bkcore.outage.is_outage(ValueError()); "
        "print(sorted(m for m in ('aiokafka', 'asyncpg', 'minio', 'grpc') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
