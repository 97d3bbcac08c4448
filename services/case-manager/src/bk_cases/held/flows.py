"""Holding and releasing signals whose site the directory does not know (yet).

A detection, camera alarm, ledger alert or complaint can name a site the case-manager has not got:
the site is being created (the ledger or a camera got there first), it was deleted, or its id is
wrong. Such a signal is not dropped: its consumer stores the event as it came (``hold``, in the
transaction that claims it), and ``release_due`` tries it again until the site exists — then the
case opens as if the event had just arrived — or, after ``hold_s``, writes it to ``<topic>.dlq``
with the reason, where ``bk_bus_dead_letters_total`` (alert ``BKDeadLettersGrowing``) and
``bk_cases_held_signals_total`` (alert ``BKSignalsForUnknownSites``) show it and
``brightkitchen dlq replay`` brings it back once the directory is fixed (under an id derived from the
event's: the original id was claimed when the signal was held).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from prometheus_client import Counter, Gauge
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bk_cases.context import Context
from bk_cases.directory import service as directory
from bk_cases.held.models import HeldSignal
from bk_cases.held.rules import HoldPolicy
from bkcore.bus.base import (
    H_ATTEMPTS,
    H_ERROR,
    H_GROUP,
    H_SOURCE_OFFSET,
    H_SOURCE_PARTITION,
    H_SOURCE_TOPIC,
    TOPICS,
    Delivery,
    dead_letter_topic,
    encode_event,
)

log = logging.getLogger(__name__)

HELD = Counter(
    "bk_cases_held_signals_total",
    "signals for a site the directory does not know: held, released (the site appeared) or dead_lettered",
    ["tenant", "topic", "outcome"],
)
HELD_NOW = Gauge(
    "bk_cases_signals_on_hold", "signals held for an unknown site, as of this replica's last try"
)

Body = Callable[[Context, AsyncSession, Delivery], Awaitable[None]]


def policy(ctx: Context) -> HoldPolicy:
    s = ctx.settings
    return HoldPolicy(
        retry_s=s.unknown_site_retry_s, retry_max_s=s.unknown_site_retry_max_s, hold_s=s.unknown_site_hold_s
    )


async def site_known(ctx: Context, session: AsyncSession, tenant_id: str, site_id: str) -> bool:
    key = f"site-known|{tenant_id}|{site_id}"
    if ctx.ttl_get(key):
        return True  # only a known site is cached: an unknown one is asked again every time
    known = await directory.get_site(db_session=session, tenant_id=tenant_id, site_id=site_id) is not None
    if known:
        ctx.ttl_put(key, True, 60.0)
    return known


async def admit(ctx: Context, session: AsyncSession, deliveries: Sequence[Delivery]) -> list[Delivery]:
    """The deliveries whose site is known; the others are held (in ``session``, with their claim)."""
    known: list[Delivery] = []
    for d in deliveries:
        site_id = getattr(d.event, "site_id", "")
        if not site_id or await site_known(ctx, session, d.tenant_id, site_id):
            known.append(d)
        else:
            await hold(ctx, session, d, site_id)
    return known


async def hold(ctx: Context, session: AsyncSession, d: Delivery, site_id: str) -> None:
    now = ctx.runtime.clock.now()
    values = {
        "tenant_id": d.tenant_id,
        "site_id": site_id,
        "topic": d.topic,
        "event_id": d.event_id,
        "key": d.key,
        "payload": d.event.SerializeToString(),
        "held_at": now,
        "next_try_at": policy(ctx).next_try(now, 1),
        "attempts": 0,
    }
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(insert(HeldSignal).values(**values).on_conflict_do_nothing())
    HELD.labels(d.tenant_id, d.topic, "held").inc()
    log.warning(
        "signal for an unknown site held; retried until the site exists, then dead-lettered",
        extra={"tenant_id": d.tenant_id, "site_id": site_id, "topic": d.topic, "event_id": d.event_id},
    )


async def release_due(ctx: Context, bodies: dict[str, Body], *, limit: int = 200) -> int:
    """Try every held signal that is due: run it when its site exists now, dead-letter it when its
    time is up, else schedule the next try. Returns how many left the hold. One transaction each."""
    now = ctx.runtime.clock.now()
    stmt = select(HeldSignal.id).where(HeldSignal.next_try_at <= now).order_by(HeldSignal.id).limit(limit)
    async with ctx.db.session() as session:
        due = list((await session.scalars(stmt)).all())
    done = 0
    for held_id in due:
        done += await _try_one(ctx, bodies, held_id, now)
    async with ctx.db.session() as session:
        HELD_NOW.set(await session.scalar(select(func.count()).select_from(HeldSignal)) or 0)
    return done


async def _try_one(ctx: Context, bodies: dict[str, Body], held_id: int, now: datetime) -> int:
    rules = policy(ctx)
    async with ctx.db.session() as session:
        stmt = select(HeldSignal).where(HeldSignal.id == held_id)
        if ctx.db.is_postgres:  # replicas try at once: each held signal is taken by one
            stmt = stmt.with_for_update(skip_locked=True)
        row = await session.scalar(stmt)
        if row is None:
            return 0
        if await site_known(ctx, session, row.tenant_id, row.site_id):
            body = bodies.get(row.topic)
            if body is None:
                raise RuntimeError(f"held signal on {row.topic!r}, which no case consumer handles")
            await body(ctx, session, _delivery(row))
            await session.delete(row)
            HELD.labels(row.tenant_id, row.topic, "released").inc()
            log.info(
                "held signal released: its site exists now",
                extra={"tenant_id": row.tenant_id, "site_id": row.site_id, "event_id": row.event_id},
            )
            outcome = 1
        elif rules.expired(row.held_at, now):
            # Published before the row goes: if the bus is down this raises, the row stays, and the
            # next try publishes it again (at least once; a replay dedupes by event id).
            await _dead_letter(ctx, row)
            await session.delete(row)
            HELD.labels(row.tenant_id, row.topic, "dead_lettered").inc()
            log.error(
                "signal for an unknown site dead-lettered after its hold",
                extra={"tenant_id": row.tenant_id, "site_id": row.site_id, "event_id": row.event_id},
            )
            outcome = 1
        else:
            row.attempts += 1
            row.next_try_at = rules.next_try(now, row.attempts + 1)
            outcome = 0
    if outcome:
        ctx.wake_relay()
    return outcome


def _delivery(row: HeldSignal) -> Delivery:
    event = TOPICS[row.topic].FromString(row.payload)
    return Delivery(
        topic=row.topic,
        key=row.key,
        event=event,
        event_id=row.event_id,
        tenant_id=row.tenant_id,
        partition=-1,
        offset=-1,
        attempt=row.attempts + 1,
    )


def dead_letter_id(event_id: str) -> str:
    """The id a held signal's dead letter carries: not the event's own, which the consumer's inbox
    (and the bus's memory of recent ids) counts as handled — it was, by being held — so a replay
    would be skipped. Derived, so that a dead letter written twice is still one event."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"bk-held-signal:{event_id}"))


async def _dead_letter(ctx: Context, row: HeldSignal) -> None:
    event = TOPICS[row.topic].FromString(row.payload)
    event.meta.event_id = dead_letter_id(row.event_id)  # type: ignore[attr-defined]
    key, value, headers = encode_event(row.topic, event)
    headers |= {
        H_ERROR: f"UnknownSite: site {row.site_id!r} of tenant {row.tenant_id!r} is not in the directory "
        f"(event {row.event_id}, held since {row.held_at.isoformat()}, {row.attempts + 1} tries)",
        H_SOURCE_TOPIC: row.topic,
        H_SOURCE_PARTITION: "-1",
        H_SOURCE_OFFSET: "-1",
        H_GROUP: ctx.settings.consumer_group,
        H_ATTEMPTS: str(row.attempts + 1),
    }
    await ctx.runtime.bus.publish_raw(dead_letter_topic(row.topic), key, value, headers)
