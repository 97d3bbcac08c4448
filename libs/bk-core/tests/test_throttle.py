"""The failure throttle: the pure policy, then the database adapter under concurrent guesses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import MetaData

from bkcore.db import Database
from bkcore.throttle import (
    Throttle,
    Throttled,
    ThrottlePolicy,
    ThrottleState,
    after_failure,
    retry_after,
    throttle_table,
)

POLICY = ThrottlePolicy(max_failures=5, lock_s=30, max_lock_s=900, forget_after_s=3600)


def test_locks_after_max_failures_and_doubles() -> None:
    s, now = ThrottleState(), 1000.0
    for _ in range(4):
        s = after_failure(s, now, POLICY)
    assert retry_after(s, now) == 0  # four: still free
    s = after_failure(s, now, POLICY)
    assert retry_after(s, now) == 30
    s = after_failure(s, now + 31, POLICY)
    assert retry_after(s, now + 31) == 60  # one more after the lock: twice as long
    for i in range(20):
        s = after_failure(s, now + 100 + i, POLICY)
    assert retry_after(s, now + 119) == 900  # capped


def test_failures_are_forgotten_after_a_quiet_hour() -> None:
    s = ThrottleState()
    for _ in range(4):
        s = after_failure(s, 0.0, POLICY)
    s = after_failure(s, 3600.0, POLICY)
    assert s.failures == 1 and retry_after(s, 3600.0) == 0


@pytest.fixture
async def throttle(tmp_path: Path) -> AsyncIterator[tuple[Throttle, list[float]]]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 't.sqlite'}")
    meta = MetaData()
    table = throttle_table(meta, "t")
    async with db.engine.begin() as conn:
        await conn.run_sync(meta.create_all)
    now = [1000.0]
    yield Throttle(db, table, clock=lambda: now[0], keep_s=3600), now
    await db.dispose()


async def test_concurrent_attempts_check_no_more_than_the_allowance(
    throttle: tuple[Throttle, list[float]],
) -> None:
    """60 guesses at once: five get through to a password check, 55 are refused with a wait."""
    t, _ = throttle

    async def attempt() -> bool:
        try:
            await t.count_attempt("account:a", POLICY)
            return True
        except Throttled as exc:
            assert exc.retry_after_s > 0
            return False

    results = await asyncio.gather(*(attempt() for _ in range(60)))
    assert sum(results) == 5
    with pytest.raises(Throttled):
        await t.check(["account:a", "ip:1"])


async def test_clear_forgives_and_record_counts_without_refusing(
    throttle: tuple[Throttle, list[float]],
) -> None:
    t, now = throttle
    for _ in range(4):
        await t.count_attempt("k", POLICY)
    await t.clear("k")
    assert (await t.state("k")).failures == 0
    for _ in range(7):
        await t.record_failure("k", POLICY)  # never raises, keeps counting
    state = await t.state("k")
    assert state.failures == 7 and retry_after(state, now[0]) == 30 * 2**2
    now[0] += 121
    await t.check(["k"])  # the lock is over
