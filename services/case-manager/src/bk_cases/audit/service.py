"""Audit data functions: append one entry, read a chain, verify it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bk_cases.audit.models import AuditEntry, AuditHead, VerifyReport
from bk_cases.audit.rules import GENESIS, ChainEntry, canonical, entry_hash, verify_chain


async def append(
    *,
    db_session: AsyncSession,
    tenant_id: str,
    at: datetime,
    actor_id: str,
    action: str,
    entity_type: str,
    entity_id: str,
    data: dict[str, Any],
) -> AuditEntry:
    """Append to the tenant's chain inside the caller's transaction (rolls back with it)."""
    head = await db_session.scalar(
        select(AuditHead).where(AuditHead.tenant_id == tenant_id).with_for_update()
    )
    if head is None:
        head = AuditHead(tenant_id=tenant_id, seq=0, hash=GENESIS)
        db_session.add(head)
    body = canonical(data)
    seq = head.seq + 1
    digest = entry_hash(
        prev_hash=head.hash,
        tenant_id=tenant_id,
        seq=seq,
        at=at,
        actor_id=actor_id,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        data=body,
    )
    entry = AuditEntry(
        tenant_id=tenant_id,
        seq=seq,
        at=at,
        actor_id=actor_id,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        data=body,
        prev_hash=head.hash,
        hash=digest,
    )
    db_session.add(entry)
    head.seq, head.hash = seq, digest
    return entry


async def entries_for(
    *, db_session: AsyncSession, tenant_id: str, entity_id: str | None = None, limit: int = 500
) -> list[AuditEntry]:
    stmt = select(AuditEntry).where(AuditEntry.tenant_id == tenant_id)
    if entity_id:
        stmt = stmt.where(AuditEntry.entity_id == entity_id)
    return list((await db_session.scalars(stmt.order_by(AuditEntry.seq).limit(limit))).all())


async def verify(*, db_session: AsyncSession, tenant_id: str) -> VerifyReport:
    """Recompute the tenant's chain from the first entry."""
    head = await db_session.get(AuditHead, tenant_id)
    rows = await db_session.scalars(
        select(AuditEntry).where(AuditEntry.tenant_id == tenant_id).order_by(AuditEntry.seq)
    )
    entries = [
        ChainEntry(
            r.tenant_id,
            r.seq,
            r.at,
            r.actor_id,
            r.action,
            r.entity_type,
            r.entity_id,
            r.data,
            r.prev_hash,
            r.hash,
        )
        for r in rows
    ]
    problems = verify_chain(
        entries, head_seq=head.seq if head else None, head_hash=head.hash if head else None
    )
    return VerifyReport(tenant_id=tenant_id, ok=not problems, entries=len(entries), problems=problems)


async def tenants(*, db_session: AsyncSession) -> list[str]:
    return list((await db_session.scalars(select(AuditHead.tenant_id))).all())
