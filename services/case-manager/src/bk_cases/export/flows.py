"""Export verdicts with their raw snapshots as a ``bk-verdicts`` zip (verdicts.json + images/)."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bk_cases.audit import service as audit
from bk_cases.cases import service as cases
from bk_cases.cases.enums import Source, Verdict
from bk_cases.cases.models import Case
from bk_cases.export.rules import ExportItem, image_size, record_for
from bkcore.auth import Principal
from bkcore.objstore.base import ObjectNotFound, ObjectStore
from bkcore.verdicts import MANIFEST, Skipped, VerdictRecord, VerdictSet

MAX_ITEMS = 5000  # one zip in memory: page by period for more


async def export_verdicts_zip(
    session: AsyncSession,
    store: ObjectStore,
    *,
    principal: Principal,
    since: datetime | None,
    until: datetime | None,
) -> bytes:
    """Closed detection cases with a verdict, and any a supervisor labelled, in the caller's scope."""
    stmt = cases.scoped(select(Case), principal).where(
        Case.source == Source.DETECTION.value,
        Case.raw_snapshot_key != "",
        or_(
            Case.verdict.in_([Verdict.CONFIRMED.value, Verdict.FALSE_ALARM.value]),
            Case.labels.is_not(None),
        ),
    )
    if since is not None:
        stmt = stmt.where(Case.updated_at >= since)
    if until is not None:
        stmt = stmt.where(Case.updated_at < until)
    rows = (await session.scalars(stmt.order_by(Case.updated_at, Case.id).limit(MAX_ITEMS))).all()
    buf = io.BytesIO()
    records: list[VerdictRecord] = []
    skipped: list[Skipped] = []
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:  # JPEGs do not compress further
        for c in rows:
            try:
                data = await store.get(c.raw_snapshot_key)
            except ObjectNotFound:  # evidence past retention: the verdict alone is no example
                skipped.append(Skipped(case_id=c.id, reason="snapshot no longer in the object store"))
                continue
            w, h = image_size(data)
            out = record_for(
                ExportItem(
                    case_id=c.id,
                    tenant_id=c.tenant_id,
                    site_id=c.site_id,
                    camera_id=c.camera_id,
                    case_type=c.case_type,
                    verdict=c.verdict,
                    box=tuple(c.box or ()),
                    saved_labels=c.labels,
                    model_version=c.model_version,
                    image_ext=c.raw_snapshot_key.rsplit(".", 1)[-1] if "." in c.raw_snapshot_key else "jpg",
                    width=w,
                    height=h,
                )
            )
            if isinstance(out, Skipped):
                skipped.append(out)
                continue
            zf.writestr(out.file_name, data)  # only the pictures that are examples travel
            records.append(out)
        zf.writestr(MANIFEST, VerdictSet(records=records, skipped=skipped).model_dump_json(indent=1))
    for tenant_id in sorted({r.tenant_id for r in records}):  # the snapshots leave: chain who took which
        await audit.record(
            session,
            tenant_id=tenant_id,
            actor_id=principal.subject,
            action="evidence.export",
            entity_type="export",
            entity_id="verdicts",
            data={
                "cases": [r.case_id for r in records if r.tenant_id == tenant_id],
                "role": principal.role.value,
                "since": since.isoformat() if since else None,
                "until": until.isoformat() if until else None,
            },
        )
    return buf.getvalue()
