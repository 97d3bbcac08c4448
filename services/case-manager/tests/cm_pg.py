"""A fresh PostgreSQL database per test run on 127.0.0.1:5432; fails loudly when unreachable."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator

import asyncpg

PG_DSN = os.environ.get("BK_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextlib.asynccontextmanager
async def fresh_database() -> AsyncIterator[str]:
    """Create ``bk_cases_<random>``, yield its SQLAlchemy URL, drop it afterwards."""
    name = f"bk_cases_{uuid.uuid4().hex[:10]}"
    try:
        admin = await asyncpg.connect(PG_DSN, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        raise RuntimeError(
            f"PostgreSQL is required for this test and is unreachable at {PG_DSN}: {exc}"
        ) from exc
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        base = PG_DSN.rsplit("/", 1)[0].split("://", 1)[1]
        yield f"postgresql+asyncpg://{base}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
