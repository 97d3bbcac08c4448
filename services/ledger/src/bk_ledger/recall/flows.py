"""A recall in one transaction: trace, report, one alarm per affected site (through the outbox)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import HTTPException
from sqlalchemy.ext.asyncio import AsyncSession

from bk_ledger.common import alerts, records
from bk_ledger.db import outbox
from bk_ledger.recall import rules, service
from bk_ledger.recall.models import RecallIn
from bkcore.auth import Principal, in_subtree
from bkcore.db import enqueue_event


def _check_scope(p: Principal, body: RecallIn) -> None:
    narrower = body.scope.org_path
    if narrower is not None and p.org_path and not in_subtree(narrower, p.org_path):
        raise HTTPException(403, detail="scope.org_path is outside your org subtree")


async def recall(s: AsyncSession, p: Principal, body: RecallIn, now: datetime) -> dict[str, Any]:
    """Create the recall; returns it with its report. Alerts are enqueued in the same transaction."""
    _check_scope(p, body)
    supplier = await service.supplier_by_licence(s, tenant_id=p.tenant_id, licence_no=body.supplier_licence)
    if supplier is None:
        raise HTTPException(404, detail="no supplier with this licence in the tenant 租户内无此供应商")
    bought = await service.affected_purchases(
        s, p, supplier_id=supplier["id"], batch=body.batch, scope=body.scope
    )
    dishes = await service.dishes_using(s, [x["id"] for x in bought])
    samples = await service.samples_of(s, dishes)
    site_ids = sorted({x["site_id"] for x in bought})
    known = await service.site_rows(s, tenant_id=p.tenant_id, site_ids=site_ids)
    per_site = [
        rules.site_report(
            {"site_id": sid, "name": known[sid]["name"] if sid in known else sid},
            [x for x in bought if x["site_id"] == sid],
            [x for x in dishes if x["site_id"] == sid],
            [x for x in samples if x["site_id"] == sid],
        )
        for sid in site_ids
    ]
    batch = body.batch.model_dump() if body.batch else None
    report = {
        "supplier": {"licence_no": supplier["licence_no"], "name": supplier["name"]},
        "batch": batch,
        "sites": per_site,
        "totals": rules.totals(per_site),
    }
    rid = records.new_id()
    recalled = rules.what(supplier["name"], supplier["licence_no"], batch)
    # Where each site sits in the org tree now (who may read its part); the purchase's copy if the
    # directory no longer has the site.
    org_of = {x["site_id"]: x["org_path"] for x in bought}
    org_of.update({sid: row["org_path"] for sid, row in known.items()})
    links = []
    for site in per_site:
        finding = rules.site_finding(
            site=site, supplier_id=supplier["id"], recalled=recalled, reason=body.reason, recall_id=rid
        )
        event = alerts.to_event(p.tenant_id, finding, now)
        # Not through ``alerts.emit``: a recall is an event, not a standing condition to de-duplicate.
        event.alert_id = rules.alert_id(rid, site["site_id"])
        await enqueue_event(s, outbox, alerts.TOPIC, event)
        links.append(
            {
                "recall_id": rid,
                "site_id": site["site_id"],
                "tenant_id": p.tenant_id,
                "org_path": org_of[site["site_id"]],
                "tenant_supplier_id": supplier["id"],
                "alert_id": event.alert_id,
                "case_id": None,
            }
        )
    values = service.recall_values(
        recall_id=rid,
        tenant_id=p.tenant_id,
        now=now,
        by=p.subject,
        supplier_id=supplier["id"],
        batch=body.batch,
        reason=body.reason,
        scope=body.scope,
        report=report,
    )
    await service.insert_recall(s, values=values, site_rows_=links)
    return await report_for(s, p, rid)  # type: ignore[return-value]


async def report_for(s: AsyncSession, p: Principal, recall_id: str) -> dict[str, Any] | None:
    """The recall as the caller may read it: only the affected sites they see, each with its case.

    None when the caller sees none of its sites and did not make it (never confirm it exists)."""
    rec = await service.get_recall(s, tenant_id=p.tenant_id, recall_id=recall_id)
    if rec is None:
        return None
    cases = await service.visible_sites(s, p, recall_id)
    mine = rec["created_by"] == p.subject
    if not cases and not mine:
        return None
    report = rec["report"]
    shown = [
        {**site, "case_id": cases[site["site_id"]]} for site in report["sites"] if site["site_id"] in cases
    ]
    return {
        "id": rec["id"],
        "created_at": rec["created_at"],
        "created_by": rec["created_by"],
        "reason": rec["reason"],
        "scope": rec["scope"],
        "supplier": report["supplier"],
        "batch": report["batch"],
        "sites": shown,
        "totals": rules.totals(shown),
    }


async def recent(s: AsyncSession, p: Principal, *, limit: int, offset: int) -> list[dict[str, Any]]:
    """The caller's view of recent recalls: what, why, when, and the affected sites they see."""
    return [
        {
            "id": x["id"],
            "created_at": x["created_at"],
            "created_by": x["created_by"],
            "reason": x["reason"],
            "supplier": x["report"]["supplier"],
            "batch": x["report"]["batch"],
            "site_ids": x["site_ids"],
        }
        for x in await service.list_visible(s, p, limit=limit, offset=offset)
    ]
