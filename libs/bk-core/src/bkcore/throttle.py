"""Failure throttles with backoff: staff logins per account and per IP, invite-code guesses.

A key (``account:<tenant>:<username>``, ``ip:<address>``, ``invite-codes``) that fails
``max_failures`` times in a row is locked for ``lock_s``, doubling with each further failure up to
``max_lock_s``; failures are forgotten after ``forget_after_s`` without one. While a key is locked
every attempt is answered 429 with ``Retry-After`` — the right password too, or guessing would
only have to wait for the one request that gets through.

State lives in the service's own database, not in memory: production runs several replicas behind
one ingress, and a per-replica counter would multiply the allowance by the replica count and forget
it on every restart. The embedded mode uses the same code on its SQLite file (there is no Redis in
the embedded mode, and one code path is the rule). Updates are compare-and-set on a version
column, so concurrent attempts on one key are counted one by one on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, delete, select, update

from bkcore.db import Database, _insert

#: Compare-and-set retries before an attempt is refused (fail closed under extreme contention).
_CAS_TRIES = 20
#: Forgotten rows are deleted once every this many writes, so guessed usernames cannot fill the table.
_PRUNE_EVERY = 256


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    max_failures: int
    lock_s: float
    max_lock_s: float
    forget_after_s: float


@dataclass(frozen=True, slots=True)
class ThrottleState:
    failures: int = 0
    last_failure_at: float = 0.0
    locked_until: float = 0.0


def retry_after(state: ThrottleState, now: float) -> float:
    """Seconds until the key may be tried again (0: it may now)."""
    return max(0.0, state.locked_until - now)


def after_failure(state: ThrottleState, now: float, policy: ThrottlePolicy) -> ThrottleState:
    """The state once one more failure is counted at ``now``."""
    quiet = now - state.last_failure_at >= policy.forget_after_s
    failures = 1 if quiet else state.failures + 1
    locked_until = state.locked_until
    if failures >= policy.max_failures:
        lock = min(policy.max_lock_s, policy.lock_s * 2 ** min(failures - policy.max_failures, 30))
        locked_until = max(locked_until, now + lock)
    return ThrottleState(failures, now, locked_until)


def throttle_table(metadata: MetaData, name: str = "throttle") -> Table:
    return Table(
        name,
        metadata,
        Column("key", String(200), primary_key=True),
        Column("failures", Integer, nullable=False, default=0),
        Column("last_failure_at", Float, nullable=False, default=0.0),
        Column("locked_until", Float, nullable=False, default=0.0),
        Column("version", Integer, nullable=False, default=0),
    )


class Throttled(Exception):
    """An attempt refused because a key is locked: answer 429 with ``Retry-After``."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"too many failed attempts; retry in {retry_after_s:.0f}s")
        self.retry_after_s = retry_after_s


class Throttle:
    """Failure counters per key in ``table`` (``throttle_table``) of one service's database."""

    def __init__(self, db: Database, table: Table, *, clock: Callable[[], float], keep_s: float) -> None:
        """``keep_s``: the longest ``forget_after_s`` of the policies used on this table."""
        self._db, self._t, self._clock, self._keep_s = db, table, clock, keep_s
        self._writes = 0

    async def check(self, keys: Iterable[str]) -> None:
        """Raise Throttled when any of ``keys`` is locked now."""
        keys = list(keys)
        now = self._clock()
        async with self._db.session() as s:
            rows = (await s.execute(select(self._t).where(self._t.c.key.in_(keys)))).all()
        wait = max((retry_after(_state(r), now) for r in rows), default=0.0)
        if wait > 0:
            raise Throttled(wait)

    async def count_attempt(self, key: str, policy: ThrottlePolicy) -> None:
        """Count an attempt as a failure *before* its outcome is known (``clear`` forgives a success).

        Raise Throttled, counting nothing, when ``key`` is locked: of many attempts in flight at
        once, no more than ``max_failures`` get as far as checking a password.
        """
        await self._count(key, policy, refuse_if_locked=True)

    async def record_failure(self, key: str, policy: ThrottlePolicy) -> None:
        """Count a failure that already happened (never raises Throttled)."""
        await self._count(key, policy, refuse_if_locked=False)

    async def clear(self, key: str) -> None:
        async with self._db.session() as s:
            await s.execute(delete(self._t).where(self._t.c.key == key))

    async def state(self, key: str) -> ThrottleState:
        async with self._db.session() as s:
            row = (await s.execute(select(self._t).where(self._t.c.key == key))).first()
        return _state(row) if row is not None else ThrottleState()

    async def _count(self, key: str, policy: ThrottlePolicy, *, refuse_if_locked: bool) -> None:
        t = self._t
        for _ in range(_CAS_TRIES):
            now = self._clock()
            async with self._db.session() as s:
                row = (await s.execute(select(t).where(t.c.key == key))).first()
                if row is None:
                    await s.execute(
                        _insert(s, t)
                        .values(key=key, failures=0, last_failure_at=0.0, locked_until=0.0, version=0)
                        .on_conflict_do_nothing()
                    )
                    continue
                state = _state(row)
                if refuse_if_locked and (wait := retry_after(state, now)) > 0:
                    raise Throttled(wait)
                new = after_failure(state, now, policy)
                done = await s.execute(
                    update(t)
                    .where(t.c.key == key, t.c.version == row.version)
                    .values(
                        failures=new.failures,
                        last_failure_at=new.last_failure_at,
                        locked_until=new.locked_until,
                        version=row.version + 1,
                    )
                )
            if done.rowcount == 1:
                await self._maybe_prune(now)
                return
        raise Throttled(policy.lock_s)  # could not count it: refuse rather than let it through

    async def _maybe_prune(self, now: float) -> None:
        self._writes += 1
        if self._writes % _PRUNE_EVERY:
            return
        t = self._t
        async with self._db.session() as s:
            await s.execute(delete(t).where(t.c.locked_until < now, t.c.last_failure_at < now - self._keep_s))


def _state(row: object) -> ThrottleState:
    return ThrottleState(row.failures, row.last_failure_at, row.locked_until)  # type: ignore[attr-defined]
