"""cases.v1 → the case id of each recalled site (the case-manager opens the cases; we note which)."""

from __future__ import annotations

from bk_ledger.common.context import LedgerContext
from bk_ledger.recall import rules, service
from bkcore.bus.base import Bus, Delivery
from bkproto.events.v1.cases_pb2 import CASE_SOURCE_LEDGER, CaseChanged

GROUP = "ledger-recalls"
_NOTED = frozenset({"created", "merged"})


def subscribe(ctx: LedgerContext, bus: Bus) -> None:
    async def handle(d: Delivery) -> None:
        e: CaseChanged = d.event  # type: ignore[assignment]
        if e.source != CASE_SOURCE_LEDGER or e.case_type != rules.RULE or e.action not in _NOTED:
            return
        # Idempotent (an update to the same value), so a redelivery needs no inbox claim.
        async with ctx.db.session() as s:
            await service.note_case(
                s,
                tenant_id=d.tenant_id,
                site_id=e.site_id,
                source_ref=e.source_ref,
                subject_id=e.subject_id,
                case_id=e.case_id,
            )

    bus.subscribe("cases.v1", GROUP, handle, max_attempts=5)
