"""Audit data functions: the keys, append one entry (``record``), read a chain, verify it.

``record`` is the one way any domain writes to the audit chain; ``directory_changes`` chains every
directory row a block writes, and ``evidence_access`` every time staff are given evidence.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, inspect, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bk_cases.audit.models import AuditEntry, AuditHead, ChainProblem, VerifyReport
from bk_cases.audit.rules import (
    DIRECTORY_ENTITIES,
    GENESIS,
    AuditKeys,
    ChainCheck,
    ChainEntry,
    Checkpoint,
    Finding,
    canonical,
    directory_change,
    entry_hash,
)
from bk_cases.db import tx_cache
from bk_cases.settings import CaseSettings
from bkcore.auth import Principal, Role
from bkcore.db import Database
from bkcore.objstore.base import ObjectNotFound, ObjectStore, validate_key
from bkcore.secrets import embedded_secret
from bkcore.settings import Mode

log = logging.getLogger(__name__)
_KEYS = "bk_audit_keys"
#: The embedded installation's generated audit key (``data_dir/secrets/<this>``).
EMBEDDED_KEY_NAME = "audit-hmac"


def keys_from_settings(settings: CaseSettings) -> AuditKeys:
    """``BK_AUDIT_KEY`` (+ the rotated-out ``BK_AUDIT_PREVIOUS_KEYS``), or in embedded mode a key
    generated once under data_dir. Production refuses to start without one (settings)."""
    previous = [k.get_secret_value() for k in settings.audit_previous_keys]
    configured = settings.audit_key.get_secret_value()
    if configured:
        return AuditKeys.of([configured, *previous])
    if settings.mode != Mode.EMBEDDED:  # the settings validator already refuses it; belt and braces
        raise ValueError("BK_AUDIT_KEY must be set outside embedded mode")
    path = settings.data_dir / "secrets" / EMBEDDED_KEY_NAME
    keys = AuditKeys.of([embedded_secret(settings.data_dir, EMBEDDED_KEY_NAME), *previous])
    log.warning(
        "audit chain keyed with the generated key %s (id %s, embedded mode): it lives beside the "
        "database, so it stops edits made through the database alone; set BK_AUDIT_KEY to keep it elsewhere",
        path,
        keys.signing_id,
    )
    return keys


def use_keys(db: Database, keys: AuditKeys) -> None:
    """Every session of ``db`` appends and verifies with ``keys`` (set once, when the service is built)."""
    db.sessions.configure(info={_KEYS: keys})


def session_keys(db_session: AsyncSession) -> AuditKeys:
    keys = db_session.info.get(_KEYS)
    if not isinstance(keys, AuditKeys):
        raise RuntimeError("no audit keys on this database's sessions: call bk_cases.audit.service.use_keys")
    return keys


async def record(
    db_session: AsyncSession,
    *,
    tenant_id: str,
    actor_id: str,
    action: str,
    entity_type: str,
    entity_id: str,
    data: dict[str, Any],
    at: datetime | None = None,
) -> None:
    """Chain one action in the caller's transaction (it rolls back with it). ``action`` and
    ``entity_type`` are at most 32 characters, ``entity_id`` 64; ``at`` defaults to now."""
    await append(
        db_session=db_session,
        tenant_id=tenant_id,
        at=at or datetime.now(UTC),
        actor_id=actor_id,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        data=data,
    )


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
    keys = session_keys(db_session)
    head = await _locked_head_or_new(db_session, tenant_id)
    body = canonical(data)
    seq = head.seq + 1
    digest = entry_hash(
        key=keys.signing_key,
        key_id=keys.signing_id,
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
        key_id=keys.signing_id,
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
    if db_session.bind is not None and db_session.bind.dialect.name == "sqlite":
        # SQLite has no FOR UPDATE, and its driver begins a transaction only at the first write: a
        # plain read would see a head another transaction is about to move (two entries, one seq).
        # A no-op write first takes the database's write lock, so the read below is the latest.
        await db_session.execute(
            update(AuditHead).where(AuditHead.tenant_id == tenant_id).values(seq=AuditHead.seq)
        )
    stmt = select(AuditHead).where(AuditHead.tenant_id == tenant_id).with_for_update()
    return await db_session.scalar(stmt.execution_options(populate_existing=True))


async def entries_for(
    *, db_session: AsyncSession, tenant_id: str, entity_id: str | None = None, limit: int = 500
) -> list[AuditEntry]:
    stmt = select(AuditEntry).where(AuditEntry.tenant_id == tenant_id)
    if entity_id:
        stmt = stmt.where(AuditEntry.entity_id == entity_id)
    return list((await db_session.scalars(stmt.order_by(AuditEntry.seq).limit(limit))).all())


async def verify(
    *, db_session: AsyncSession, tenant_id: str, store: ObjectStore | None = None
) -> VerifyReport:
    """Recompute the tenant's chain from the first entry with the audit keys and, given the object
    store, hold it against the latest signed checkpoint kept there. Rows are streamed, not loaded."""
    head = await db_session.get(AuditHead, tenant_id)
    checkpoint, unreadable = await latest_checkpoint(store, tenant_id) if store is not None else (None, None)
    check = ChainCheck(session_keys(db_session), checkpoint=checkpoint, tenant_id=tenant_id)
    columns = [getattr(AuditEntry, f.name) for f in dataclasses.fields(ChainEntry)]
    stmt = select(*columns).where(AuditEntry.tenant_id == tenant_id).order_by(AuditEntry.seq)
    async for row in await db_session.stream(stmt.execution_options(yield_per=2000)):
        check.feed(ChainEntry(*row))
    found = check.finish(head_seq=head.seq if head else None, head_hash=head.hash if head else None)
    if unreadable:
        found.append(Finding(None, unreadable))
    return VerifyReport(
        tenant_id=tenant_id,
        ok=not found,
        entries=check.entries,
        problems=[f.problem for f in found],
        findings=[ChainProblem(seq=f.seq, problem=f.problem) for f in found],
        key_ids=sorted(check.key_ids),
    )


async def tenants(*, db_session: AsyncSession) -> list[str]:
    """Every tenant with a chain, or that the directory knows (a chain deleted whole has no head)."""
    heads = set((await db_session.scalars(select(AuditHead.tenant_id))).all())
    known = set((await db_session.execute(text("SELECT id FROM tenants"))).scalars().all())
    return sorted(heads | known)


def checkpoint_key(tenant_id: str) -> str:
    """The tenant's latest checkpoint; each one is also kept as ``checkpoints/<seq>.json``."""
    return validate_key(f"{tenant_id}/audit/checkpoint.json")


async def latest_checkpoint(store: ObjectStore, tenant_id: str) -> tuple[Checkpoint | None, str | None]:
    """The tenant's latest checkpoint (None before the first), or why it cannot be read."""
    try:
        raw = await store.get(checkpoint_key(tenant_id))
    except ObjectNotFound:
        return None, None
    try:
        return Checkpoint(**json.loads(raw)), None
    except (ValueError, TypeError) as exc:
        return None, f"the checkpoint {checkpoint_key(tenant_id)} is unreadable ({exc})"


async def write_checkpoint(store: ObjectStore, cp: Checkpoint) -> None:
    body = json.dumps(dataclasses.asdict(cp), sort_keys=True).encode()
    history = validate_key(f"{cp.tenant_id}/audit/checkpoints/{cp.seq:012d}.json")
    await store.put(history, body, "application/json")
    await store.put(checkpoint_key(cp.tenant_id), body, "application/json")


@contextlib.asynccontextmanager
async def directory_changes(
    db_session: AsyncSession, *, actor_id: str, at: datetime | None = None
) -> AsyncIterator[None]:
    """Chain every directory row (tenant, org unit, site, zone, camera, user) the block creates,
    changes or deletes, flushed or not, when it ends: ``directory.create``/``update``/``delete``
    with the row or the changed fields (``audit.rules.directory_change``). A row changed to what
    it was (an idempotent re-seed) is not a change."""
    captured: list[tuple[str, str, str, str, dict[str, Any]]] = []

    def capture(session: Session, _ctx: object, _instances: object) -> None:
        captured.extend(_describe(session.new, "create"))
        captured.extend(_describe(session.dirty, "update"))
        captured.extend(_describe(session.deleted, "delete"))

    sync = db_session.sync_session
    event.listen(sync, "before_flush", capture)
    try:
        yield
        await db_session.flush()  # what is still pending is captured too
    finally:
        event.remove(sync, "before_flush", capture)
    when = at or datetime.now(UTC)
    for tenant_id, kind, entity_type, entity_id, data in captured:
        await record(
            db_session,
            tenant_id=tenant_id,
            actor_id=actor_id,
            action=f"directory.{kind}",
            entity_type=entity_type,
            entity_id=entity_id,
            data=data,
            at=when,
        )


def _describe(objs: Iterable[object], kind: str) -> list[tuple[str, str, str, str, dict[str, Any]]]:
    out = []
    for obj in objs:
        state = inspect(obj)
        table = state.mapper.local_table.name  # type: ignore[union-attr]
        if table not in DIRECTORY_ENTITIES:
            continue
        columns = [c.key for c in state.mapper.column_attrs]
        values = {name: state.dict.get(name) for name in columns}  # as held: never a load mid-flush
        changed: dict[str, tuple[Any, Any]] = {}
        if kind == "update":
            for name in columns:
                hist = state.attrs[name].history
                if hist.added or hist.deleted:
                    before = hist.deleted[0] if hist.deleted else None
                    after = hist.added[0] if hist.added else None
                    if before != after:
                        changed[name] = (before, after)
            if not changed:
                continue
        tenant_id = values.get("tenant_id") or values["id"]  # a tenant row is its own tenant
        pk = [c.key for c in state.mapper.primary_key if c.key != "tenant_id"]  # type: ignore[union-attr]
        entity_id = "/".join(str(values[k]) for k in pk)
        out.append(
            (
                str(tenant_id),
                kind,
                DIRECTORY_ENTITIES[table],
                entity_id,
                directory_change(table, kind, values, changed),
            )
        )
    return out


async def evidence_access(
    db_session: AsyncSession,
    *,
    principal: Principal,
    tenant_id: str,
    case_id: str,
    keys: Sequence[str],
    via: str,
    at: datetime | None = None,
) -> None:
    """Chain that a staff member was given evidence (signed links or the bytes): who, which
    objects, through what. Services (the public API showing parents a closed case) are not staff."""
    keys = [k for k in keys if k]
    if principal.role == Role.SERVICE or not keys:
        return
    await record(
        db_session,
        tenant_id=tenant_id,
        actor_id=principal.subject,
        action="evidence.access",
        entity_type="case",
        entity_id=case_id,
        data={"via": via, "objects": keys, "role": principal.role.value},
        at=at,
    )
