"""Who was given evidence: the ``evidence.access.v1`` event every service writes when it hands staff
links to (or the bytes of) snapshots, photos or camera pictures. The case-manager chains each one in
the tenant's audit log (docs/security.md, the audit log); each service writes it to its own outbox.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bkcore.auth import Principal, Role
from bkcore.bus.base import new_meta
from bkproto.events.v1.evidence_pb2 import EvidenceAccessed

TOPIC = "evidence.access.v1"
#: Callers whose access is not staff's: services read for parents, parents see blurred public copies.
_NOT_STAFF = frozenset({Role.SERVICE, Role.PARENT})


def access_event(
    p: Principal,
    *,
    producer: str,
    via: str,
    object_keys: Sequence[str],
    case_ids: Sequence[str] = (),
    at: datetime | None = None,
) -> EvidenceAccessed | None:
    """The event saying ``p`` was given ``object_keys`` through ``via``; None when there is nothing
    to record (no objects, or the caller is not staff)."""
    keys = [k for k in object_keys if k]
    if not keys or p.role in _NOT_STAFF:
        return None
    return EvidenceAccessed(
        meta=new_meta(tenant_id=p.tenant_id, key=p.subject, producer=producer, occurred_at=at),
        actor_id=p.subject,
        actor_role=p.role.value,
        via=via,
        object_keys=keys,
        case_ids=[c for c in case_ids if c],
    )
