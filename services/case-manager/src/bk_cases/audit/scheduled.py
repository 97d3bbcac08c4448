"""Signed checkpoints of every tenant's chain, written to the object store every few minutes.

The keyed hashes stop anyone without the key from editing, inserting or re-chaining entries; what
they cannot stop is cutting entries off the end and moving the head back to an earlier entry, whose
hash is genuine. A checkpoint kept outside the database says how far the chain had got: a chain
that no longer holds the checkpoint's entry has been cut (``rules.verify_chain``).
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from bk_cases.audit import service as audit
from bk_cases.audit.models import AuditEntry, AuditHead
from bk_cases.audit.rules import checkpoint_refusal, sign_checkpoint
from bk_cases.context import Context
from bkcore.tasks import BackgroundLoop

log = logging.getLogger(__name__)


async def checkpoint_once(ctx: Context) -> int:
    """Checkpoint every chain whose head moved past its latest checkpoint; returns how many.

    A chain that no longer holds its latest checkpoint's entry is not checkpointed again (that would
    bury the evidence of the cut): it is logged, and ``verify-audit`` reports it.
    """
    store, written = ctx.runtime.store, 0
    async with ctx.db.session() as session:
        heads = list((await session.scalars(select(AuditHead))).all())
        keys = audit.session_keys(session)
        for head in heads:
            latest, unreadable = await audit.latest_checkpoint(store, head.tenant_id)
            if unreadable:
                log.error("audit checkpoint of %s: %s; not overwriting it", head.tenant_id, unreadable)
                continue
            if latest is not None:
                if head.seq <= latest.seq:
                    continue
                held = await session.get(AuditEntry, (head.tenant_id, latest.seq))
                why = checkpoint_refusal(latest, keys, head.tenant_id)
                if why or held is None or held.hash != latest.hash:
                    log.error(
                        "audit chain of %s no longer holds its checkpoint at seq %d (%s): not checkpointing "
                        "over it; run `python -m bk_cases verify-audit %s`",
                        head.tenant_id,
                        latest.seq,
                        why or "entry removed or re-chained",
                        head.tenant_id,
                    )
                    continue
            cp = sign_checkpoint(
                keys, tenant_id=head.tenant_id, seq=head.seq, hash=head.hash, at=ctx.runtime.clock.now()
            )
            await audit.write_checkpoint(store, cp)
            written += 1
    return written


def checkpointer(ctx: Context) -> BackgroundLoop:
    """Runs ``checkpoint_once`` every ``audit_checkpoint_s``."""

    async def step() -> None:
        await checkpoint_once(ctx)

    return BackgroundLoop(
        "audit-checkpoints", step, interval_s=ctx.settings.audit_checkpoint_s, error_delay_s=5.0
    )
