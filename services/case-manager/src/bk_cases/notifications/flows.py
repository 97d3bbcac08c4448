"""Queuing notifications (``notifications.v1`` via the outbox) with per-recipient cooldown → digest."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bk_cases.db import enqueue, tx_cache
from bk_cases.notifications.models import RecipientState
from bk_cases.notifications.rules import MAX_CASES_IN_DIGEST, Decision, decide, digest_due
from bkcore.bus.base import new_meta
from bkproto.events.v1.notifications_pb2 import Channel, NotificationRequested

TOPIC = "notifications.v1"


@dataclass(frozen=True, slots=True)
class Recipient:
    user_id: str
    wechat_openid: str = ""
    phone: str = ""


@dataclass(frozen=True, slots=True)
class Message:
    template: str  # case_created, case_dispatched, case_copy, case_overdue, case_escalated, ...
    title: str
    body: str
    case_id: str = ""
    urgent: bool = False  # Class I and red cards: never held back
    data: dict[str, str] = field(default_factory=dict)


def _event(
    tenant_id: str,
    r: Recipient,
    msg: Message,
    *,
    at: datetime,
    digest_count: int = 0,
    template: str | None = None,
    title: str | None = None,
    body: str | None = None,
) -> NotificationRequested:
    return NotificationRequested(
        meta=new_meta(tenant_id=tenant_id, key=r.user_id, producer="case-manager", occurred_at=at),
        notification_id=str(uuid.uuid4()),
        recipient_id=r.user_id,
        channel=Channel.CHANNEL_UNSPECIFIED,  # the notifier picks: the person's choice, the class
        template=template or msg.template,
        case_id=msg.case_id,
        title=title or msg.title,
        body=body or msg.body,
        urgent=msg.urgent,
        digest_count=digest_count,
        data=msg.data,
    )


async def notify(
    session: AsyncSession,
    *,
    tenant_id: str,
    recipients: Sequence[Recipient],
    msg: Message,
    now: datetime,
    cooldown_s: int,
) -> int:
    """Queue ``msg`` for each recipient (or hold it for their digest); returns how many were queued.

    Inside ``deferred_notify`` the call is held and made when the block ends (returns 0).
    """
    deferred = session.info.get(_DEFERRED)
    if deferred is not None:
        deferred.append(
            dict(tenant_id=tenant_id, recipients=recipients, msg=msg, now=now, cooldown_s=cooldown_s)
        )
        return 0
    people = {r.user_id: r for r in recipients}  # one message per person, even with two roles
    states = await _lock_states(session, tenant_id, people)
    queued = 0
    for r in people.values():
        state = states[r.user_id]
        if (
            decide(urgent=msg.urgent, last_sent_at=state.last_sent_at, now=now, cooldown_s=cooldown_s)
            is Decision.SEND
        ):
            await enqueue(session, TOPIC, _event(tenant_id, r, msg, at=now))
            state.last_sent_at = now
            queued += 1
        else:
            state.held_count = (state.held_count or 0) + 1
            if msg.case_id and len(state.held_case_ids or []) < MAX_CASES_IN_DIGEST:
                state.held_case_ids = [*(state.held_case_ids or []), msg.case_id]
            state.held_since = state.held_since or now
    return queued


_DEFERRED = "bk_notify_deferred"


@contextlib.asynccontextmanager
async def deferred_notify(session: AsyncSession) -> AsyncIterator[None]:
    """Hold the block's ``notify`` calls and make them, in order, when it ends: the recipients'
    rows (a supervisor hears of every case in the district) are locked once, in id order, late."""
    held: list[dict[str, Any]] = []
    session.info[_DEFERRED] = held
    try:
        yield
    finally:
        session.info.pop(_DEFERRED, None)
    by_tenant: dict[str, set[str]] = {}
    for call in held:
        by_tenant.setdefault(call["tenant_id"], set()).update(r.user_id for r in call["recipients"])
    for tenant_id in sorted(by_tenant):
        await _lock_states(session, tenant_id, by_tenant[tenant_id])
    for call in held:
        await notify(session, **call)


async def _lock_states(
    session: AsyncSession, tenant_id: str, user_ids: Iterable[str]
) -> dict[str, RecipientState]:
    """The recipients' rows, created if new, locked for this transaction in id order."""
    locked = tx_cache(session)
    missing = sorted(u for u in set(user_ids) if ("recipient", tenant_id, u) not in locked)
    if missing:
        dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        rows = [
            {"tenant_id": tenant_id, "recipient_id": u, "held_count": 0, "held_case_ids": []} for u in missing
        ]
        # Racing first messages to one person must not both insert: the loser waits, then locks.
        await session.execute(insert(RecipientState).values(rows).on_conflict_do_nothing())
        stmt = (
            select(RecipientState)
            .where(RecipientState.tenant_id == tenant_id, RecipientState.recipient_id.in_(missing))
            .order_by(RecipientState.recipient_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        for state in (await session.scalars(stmt)).all():
            locked[("recipient", tenant_id, state.recipient_id)] = state
    return {u: locked[("recipient", tenant_id, u)] for u in set(user_ids)}


async def flush_digests(
    session: AsyncSession, *, now: datetime, cooldown_s: int, recipients: dict[str, Recipient] | None = None
) -> int:
    """Send one digest per recipient whose held alarms are due; returns how many digests."""
    states = (
        await session.scalars(
            select(RecipientState).where(RecipientState.held_count > 0).with_for_update(skip_locked=True)
        )
    ).all()
    sent = 0
    for s in states:
        if not digest_due(
            held_count=s.held_count, last_sent_at=s.last_sent_at, now=now, cooldown_s=cooldown_s
        ):
            continue
        r = (recipients or {}).get(s.recipient_id) or Recipient(s.recipient_id)
        msg = Message(
            template="digest",
            title=f"{s.held_count} 条新告警 new alarms",
            body=f"{s.held_count} alarms since {s.held_since:%Y-%m-%d %H:%M} UTC",
            data={"case_ids": ",".join(s.held_case_ids or [])},
        )
        await enqueue(session, TOPIC, _event(s.tenant_id, r, msg, at=now, digest_count=s.held_count))
        s.held_count, s.held_case_ids, s.held_since, s.last_sent_at = 0, [], None, now
        sent += 1
    return sent
