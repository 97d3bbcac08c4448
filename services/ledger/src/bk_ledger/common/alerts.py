"""Findings → ``ledger.alerts.v1`` through the outbox, once per change of state.

A condition already raised at the same severity is not raised again (sweeps run every minute);
clearing an unknown or already-cleared condition sends nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bk_ledger.common.findings import Finding
from bk_ledger.common.models import alert_states
from bk_ledger.db import outbox
from bkcore.bus import new_meta
from bkcore.db import enqueue_event
from bkproto.events.v1.ledger_alerts_pb2 import LedgerAlert

TOPIC = "ledger.alerts.v1"
PRODUCER = "ledger"


def to_event(tenant_id: str, finding: Finding, now: datetime) -> LedgerAlert:
    alert = LedgerAlert(
        meta=new_meta(tenant_id=tenant_id, key=finding.site_id, producer=PRODUCER, occurred_at=now),
        alert_id=finding.alert_id,
        site_id=finding.site_id,
        ledger=finding.ledger,
        rule=finding.rule,
        severity=finding.severity.value,
        active=finding.active,
        message=finding.message,
        subject_id=finding.subject_id,
        details=dict(finding.details),
    )
    if finding.due_at is not None:
        alert.due_at.FromDatetime(finding.due_at)
    return alert


async def emit(session: AsyncSession, tenant_id: str, findings: Iterable[Finding], now: datetime) -> int:
    """Enqueue the findings whose state changed; returns how many events were written."""
    written = 0
    for f in findings:
        row = (
            await session.execute(
                select(alert_states).where(
                    alert_states.c.tenant_id == tenant_id, alert_states.c.alert_id == f.alert_id
                )
            )
        ).first()
        if f.active and row is not None and row.active and row.severity == f.severity.value:
            continue
        if not f.active and (row is None or not row.active):
            continue
        values = {"active": f.active, "severity": f.severity.value, "updated_at": now}
        if row is None:
            await session.execute(
                alert_states.insert().values(tenant_id=tenant_id, alert_id=f.alert_id, **values)
            )
        else:
            await session.execute(
                alert_states.update()
                .where(alert_states.c.tenant_id == tenant_id, alert_states.c.alert_id == f.alert_id)
                .values(**values)
            )
        await enqueue_event(session, outbox, TOPIC, to_event(tenant_id, f, now))
        written += 1
    return written
