"""``evidence.access.v1``: evidence another service gave to staff, chained in the tenant's audit log.

The case-manager chains its own routes' evidence access as it happens (``service.evidence_access``);
the public API's console hands staff links from its read model and tells the case-manager with
this event. The inbox claim and the entry share one transaction: a redelivered event is chained
once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC

from bk_cases.audit import service as audit
from bk_cases.context import Context
from bk_cases.db import inbox
from bkcore.bus.base import Delivery
from bkcore.db import claim_event
from bkcore.evidence_access import TOPIC as EVIDENCE_TOPIC
from bkproto.events.v1.evidence_pb2 import EvidenceAccessed

TOPIC = EVIDENCE_TOPIC
#: One entry holds at most this many object keys (a console page lists up to 500 cases).
MAX_KEYS = 1000


def subscribe(ctx: Context) -> None:
    ctx.runtime.bus.subscribe(TOPIC, ctx.settings.consumer_group, handler(ctx), max_attempts=5)


def handler(ctx: Context) -> Callable[[Delivery], Awaitable[None]]:
    consumer = ctx.settings.consumer_group

    async def handle(delivery: Delivery) -> None:
        event = delivery.event
        assert isinstance(event, EvidenceAccessed)
        if not event.actor_id or not event.object_keys:
            raise ValueError("evidence.access.v1 without an actor or objects")  # poison: dead-lettered
        async with ctx.db.session() as session:
            if not await claim_event(session, inbox, consumer=consumer, event_id=delivery.event_id):
                return  # chained before (a redelivery)
            await audit.record(
                session,
                tenant_id=event.meta.tenant_id,
                actor_id=event.actor_id,
                action="evidence.access",
                entity_type="case" if len(event.case_ids) == 1 else "cases",
                entity_id=event.case_ids[0] if len(event.case_ids) == 1 else event.via[:64],
                data={
                    "via": event.via,
                    "objects": list(event.object_keys[:MAX_KEYS]),
                    "more_objects": max(0, len(event.object_keys) - MAX_KEYS),
                    "cases": list(event.case_ids[:MAX_KEYS]),
                    "role": event.actor_role,
                    "producer": event.meta.producer,
                    "event_id": delivery.event_id,
                },
                at=event.meta.occurred_at.ToDatetime(tzinfo=UTC),
            )

    return handle
