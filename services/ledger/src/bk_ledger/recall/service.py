"""Recall data functions: the trace across sites (always inside the caller's scope), and reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bk_ledger.common import records
from bk_ledger.meal.models import dish_ingredients, dishes_served
from bk_ledger.purchase.models import purchases, suppliers, tenant_suppliers
from bk_ledger.recall.models import BatchRef, RecallScope, recall_sites, recalls
from bk_ledger.sample import service as sample_service
from bk_ledger.sample.models import sample_retentions
from bk_ledger.sites.models import sites
from bkcore.auth import Principal
from bkcore.auth_http import scope_clause, subtree_clause


async def supplier_by_licence(s: AsyncSession, *, tenant_id: str, licence_no: str) -> dict[str, Any] | None:
    t = tenant_suppliers
    row = (await s.execute(select(t).where(t.c.tenant_id == tenant_id, t.c.licence_no == licence_no))).first()
    return dict(row._mapping) if row else None


async def affected_purchases(
    s: AsyncSession, p: Principal, *, supplier_id: str, batch: BatchRef | None, scope: RecallScope
) -> list[dict[str, Any]]:
    """Every purchase of the supplier (or of its batch) at the sites the caller may see."""
    stmt = (
        records.scoped(purchases, p)
        .join(suppliers, suppliers.c.id == purchases.c.supplier_id)
        .where(suppliers.c.tenant_supplier_id == supplier_id)
    )
    if batch is not None:
        stmt = stmt.where(purchases.c.item == batch.item, purchases.c.batch_no == batch.batch_no)
    if scope.org_path is not None:
        stmt = stmt.where(subtree_clause(purchases.c.org_path, scope.org_path))
    if scope.purchased_from is not None:
        stmt = stmt.where(purchases.c.purchase_date >= scope.purchased_from)
    if scope.purchased_to is not None:
        stmt = stmt.where(purchases.c.purchase_date <= scope.purchased_to)
    stmt = stmt.order_by(purchases.c.site_id, purchases.c.purchase_date, purchases.c.id)
    return [records.row_dict(r) for r in await s.execute(stmt)]


async def dishes_using(s: AsyncSession, purchase_ids: list[str]) -> list[dict[str, Any]]:
    """Dishes served that used any of the purchases (``dish_ingredients``), once each."""
    if not purchase_ids:
        return []
    d = dishes_served
    stmt = (
        select(d)
        .where(
            d.c.id.in_(
                select(dish_ingredients.c.dish_served_id).where(
                    dish_ingredients.c.purchase_id.in_(purchase_ids)
                )
            )
        )
        .order_by(d.c.site_id, d.c.meal_date, d.c.meal, d.c.dish, d.c.id)
    )
    return [records.row_dict(r) for r in await s.execute(stmt)]


async def samples_of(s: AsyncSession, dishes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Retained samples (留样) of those dishes, one query per site."""
    t = sample_retentions
    out: list[dict[str, Any]] = []
    for site_id in sorted({d["site_id"] for d in dishes}):
        of_site = [sample_service.of_dish(d) for d in dishes if d["site_id"] == site_id]
        rows = await s.execute(
            select(t).where(or_(*of_site)).order_by(t.c.meal_date, t.c.meal, t.c.dish, t.c.id)
        )
        out.extend(records.row_dict(r) for r in rows)
    return out


async def site_rows(s: AsyncSession, *, tenant_id: str, site_ids: list[str]) -> dict[str, dict[str, Any]]:
    rows = await s.execute(select(sites).where(sites.c.tenant_id == tenant_id, sites.c.site_id.in_(site_ids)))
    return {r.site_id: dict(r._mapping) for r in rows}


async def insert_recall(s: AsyncSession, *, values: dict[str, Any], site_rows_: list[dict[str, Any]]) -> None:
    await s.execute(recalls.insert().values(**values))
    if site_rows_:
        await s.execute(recall_sites.insert(), site_rows_)


async def get_recall(s: AsyncSession, *, tenant_id: str, recall_id: str) -> dict[str, Any] | None:
    row = (
        await s.execute(select(recalls).where(recalls.c.tenant_id == tenant_id, recalls.c.id == recall_id))
    ).first()
    return records.row_dict(row) if row else None


async def visible_sites(s: AsyncSession, p: Principal, recall_id: str) -> dict[str, str | None]:
    """The recall's affected sites the caller may see → their case ids (None until opened)."""
    r = recall_sites
    clause = scope_clause(p, tenant_col=r.c.tenant_id, org_path_col=r.c.org_path, site_id_col=r.c.site_id)
    rows = await s.execute(select(r.c.site_id, r.c.case_id).where(r.c.recall_id == recall_id, clause))
    return {row.site_id: row.case_id for row in rows}


async def list_visible(s: AsyncSession, p: Principal, *, limit: int, offset: int) -> list[dict[str, Any]]:
    """The tenant's recalls that reached a site the caller sees (or that they made), newest first,
    each with those sites' ids."""
    r = recall_sites
    seen = scope_clause(p, tenant_col=r.c.tenant_id, org_path_col=r.c.org_path, site_id_col=r.c.site_id)
    reached = select(r.c.recall_id).where(seen)
    mine = or_(recalls.c.id.in_(reached), recalls.c.created_by == p.subject)
    stmt = (
        select(recalls)
        .where(recalls.c.tenant_id == p.tenant_id, mine)
        .order_by(recalls.c.created_at.desc(), recalls.c.id)
        .limit(limit)
        .offset(offset)
    )
    rows = [records.row_dict(x) for x in await s.execute(stmt)]
    ids = [x["id"] for x in rows]
    sites: dict[str, list[str]] = {i: [] for i in ids}
    if ids:
        for x in await s.execute(
            select(r.c.recall_id, r.c.site_id).where(r.c.recall_id.in_(ids), seen).order_by(r.c.site_id)
        ):
            sites[x.recall_id].append(x.site_id)
    return [{**x, "site_ids": sites[x["id"]]} for x in rows]


async def note_case(
    s: AsyncSession, *, tenant_id: str, site_id: str, source_ref: str, subject_id: str, case_id: str
) -> int:
    """Record the case opened for a recall's site: by the alert that opened it, and for later recalls
    of the same supplier at the site that joined that open case (same subject, no case yet)."""
    r = recall_sites
    done = await s.execute(
        r.update().where(r.c.tenant_id == tenant_id, r.c.alert_id == source_ref).values(case_id=case_id)
    )
    joined = await s.execute(
        r.update()
        .where(
            and_(
                r.c.tenant_id == tenant_id,
                r.c.site_id == site_id,
                r.c.tenant_supplier_id == subject_id,
                r.c.case_id.is_(None),
            )
        )
        .values(case_id=case_id)
    )
    return (done.rowcount or 0) + (joined.rowcount or 0)


def recall_values(
    *,
    recall_id: str,
    tenant_id: str,
    now: datetime,
    by: str,
    supplier_id: str,
    batch: BatchRef | None,
    reason: str,
    scope: RecallScope,
    report: dict[str, Any],
) -> dict[str, Any]:
    return {
        "id": recall_id,
        "tenant_id": tenant_id,
        "created_at": now,
        "created_by": by,
        "tenant_supplier_id": supplier_id,
        "item": batch.item if batch else None,
        "batch_no": batch.batch_no if batch else None,
        "reason": reason,
        "scope": scope.model_dump(mode="json"),
        "report": report,
    }
