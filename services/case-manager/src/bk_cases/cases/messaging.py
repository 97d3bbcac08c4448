"""Building ``cases.v1`` events from case rows (the contract read models elsewhere rely on)."""

from __future__ import annotations

from datetime import datetime

from bk_cases.cases.enums import Source
from bk_cases.cases.models import Case
from bkcore.bus.base import new_meta
from bkproto.events.v1.cases_pb2 import CaseChanged

PRODUCER = "case-manager"
_SOURCES = {Source.DETECTION: 1, Source.CAMERA: 2, Source.LEDGER: 3, Source.COMPLAINT: 4, Source.MANUAL: 5}


def case_changed(
    case: Case, *, action: str, actor_id: str, previous_status: str, at: datetime
) -> CaseChanged:
    event = CaseChanged(
        meta=new_meta(tenant_id=case.tenant_id, key=case.id, producer=PRODUCER, occurred_at=at),
        case_id=case.id,
        site_id=case.site_id,
        org_path=case.org_path,
        source=_SOURCES[Source(case.source)],
        case_type=case.case_type,
        risk_class=case.risk_class,
        status=case.status,
        previous_status=previous_status,
        action=action,
        actor_id=actor_id,
        occurrences=case.occurrences,
        verdict=case.verdict,
        snapshot_key=case.annotated_snapshot_key or case.raw_snapshot_key,
        card_level=case.card_level,
        source_ref=case.source_ref or "",
        subject_id=case.subject_id or "",
    )
    if case.deadline is not None:
        event.deadline.FromDatetime(case.deadline)
    return event
