"""Audit data functions: append one entry, read a chain, verify it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bk_cases.audit.models import AuditEntry, AuditHead, VerifyReport
from bk_cases.audit.rules import GENESIS, ChainEntry, canonical, entry_hash, verify_chain
from bk_cases.db import tx_cache


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
) -> AuditEntry | None:
    """Append to the tenant's chain inside the caller's transaction (rolls back with it).

    Inside ``deferred_chain`` the entry is held and chained at the end of the block (returns None).
    """
    deferred = db_session.info.get(_DEFERRED)
    if deferred is not None:
        deferred.append(
            dict(
                tenant_id=tenant_id,
                at=at,
                actor_id=actor_id,
                action=action,
                entity_type=entity_type,
                entity_id=entity_id,
                data=data,
            )
        )
        return None
    head = await _locked_head_or_new(db_session, tenant_id)
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


_DEFERRED = "bk_audit_deferred"


@contextlib.asynccontextmanager
async def deferred_chain(db_session: AsyncSession) -> AsyncIterator[None]:
    """Hold the block's audit entries and chain them, in order, when it ends.

    The head row lock serialises every transaction that appends to a tenant's chain; taken at the
    end, it is held for a few inserts and the commit instead of the whole batch's work.
    """
    held: list[dict[str, Any]] = []
    db_session.info[_DEFERRED] = held
    try:
        yield
    finally:
        db_session.info.pop(_DEFERRED, None)
    for tenant_id in sorted({e["tenant_id"] for e in held}):  # one lock order for every batch
        await _locked_head_or_new(db_session, tenant_id)
    for entry in held:
        await append(db_session=db_session, **entry)


async def _locked_head_or_new(db_session: AsyncSession, tenant_id: str) -> AuditHead:
    locked = tx_cache(db_session)
    head = locked.get(("audit_head", tenant_id)) or await _locked_head(db_session, tenant_id)
    if head is None:  # a tenant's first entry: racing transactions must not both start a chain
        dialect = db_session.bind.dialect.name if db_session.bind is not None else "sqlite"
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        await db_session.execute(
            insert(AuditHead).values(tenant_id=tenant_id, seq=0, hash=GENESIS).on_conflict_do_nothing()
        )
        head = await _locked_head(db_session, tenant_id)
        assert head is not None
    locked[("audit_head", tenant_id)] = head  # held until the transaction ends
    return head


async def _locked_head(db_session: AsyncSession, tenant_id: str) -> AuditHead | None:
    stmt = select(AuditHead).where(AuditHead.tenant_id == tenant_id).with_for_update()
    return await db_session.scalar(stmt.execution_options(populate_existing=True))


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
