"""Staff given evidence here are on record in the case-manager's audit chain (``evidence.access.v1``).

The console's routes hand staff signed links to snapshots and photos from this service's read
model; the audit log is the case-manager's, so each such answer writes one event to the outbox
before the links leave, and the case-manager chains it (``bk_cases.audit.consumers``). The alarm
stream is not recorded this way yet (docs/security.md, the audit log).
"""

from __future__ import annotations

from collections.abc import Sequence

from bk_public.context import Context
from bk_public.models import outbox
from bkcore.auth import Principal, Role
from bkcore.bus.base import new_meta
from bkcore.db import enqueue_event
from bkproto.events.v1.evidence_pb2 import EvidenceAccessed

TOPIC = "evidence.access.v1"


async def record_access(
    ctx: Context, p: Principal, *, via: str, object_keys: Sequence[str], case_ids: Sequence[str] = ()
) -> None:
    """Write that ``p`` was given links to ``object_keys`` (nothing when none, or not staff)."""
    keys = [k for k in object_keys if k]
    if not keys or p.role in (Role.SERVICE, Role.PARENT):
        return
    event = EvidenceAccessed(
        meta=new_meta(
            tenant_id=p.tenant_id, key=p.subject, producer="public-api", occurred_at=ctx.runtime.clock.now()
        ),
        actor_id=p.subject,
        actor_role=p.role.value,
        via=via,
        object_keys=keys,
        case_ids=[c for c in case_ids if c],
    )
    async with ctx.db.session() as s:
        await enqueue_event(s, outbox, TOPIC, event)
    ctx.relay.notify()
