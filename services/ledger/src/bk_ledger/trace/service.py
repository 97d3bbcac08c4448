"""Traceability queries, always inside the caller's scope (scoped selects on every table)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bk_ledger.common import records
from bk_ledger.meal.models import dish_ingredients, dishes_served
from bk_ledger.pesticide.models import pesticide_tests
from bk_ledger.purchase.models import purchases, suppliers
from bk_ledger.sample import service as sample_service
from bk_ledger.sample.models import sample_retentions
from bk_ledger.trace.rules import DISH_FIELDS, PURCHASE_FIELDS, SUPPLIER_FIELDS, pick
from bkcore.auth import Principal


async def batch_with_supplier(s: AsyncSession, p: Principal, purchase_id: str) -> dict[str, Any]:
    purchase = await records.get_one(s, purchases, p, purchase_id)
    sup = (
        await s.execute(records.scoped(suppliers, p).where(suppliers.c.id == purchase["supplier_id"]))
    ).first()
    return {
        "purchase": pick(purchase, PURCHASE_FIELDS),
        "supplier": pick(records.row_dict(sup) if sup else None, SUPPLIER_FIELDS),
    }


async def forward(s: AsyncSession, p: Principal, purchase_id: str) -> list[dict[str, Any]]:
    """Dishes (and their retained samples) that used this batch, oldest first."""
    d = dishes_served
    stmt = (
        records.scoped(d, p)
        .join(dish_ingredients, dish_ingredients.c.dish_served_id == d.c.id)
        .where(dish_ingredients.c.purchase_id == purchase_id)
        .order_by(d.c.meal_date, d.c.meal)
    )
    out = []
    for row in await s.execute(stmt):
        dish = records.row_dict(row)
        samples = await s.execute(records.scoped(sample_retentions, p).where(sample_service.of_dish(dish)))
        out.append(
            {
                **pick(dish, DISH_FIELDS),  # type: ignore[dict-item]
                "samples": [{"id": x.id, "weight_g": x.weight_g, "fridge": x.fridge} for x in samples],
            }
        )
    return out


async def dish_back(s: AsyncSession, p: Principal, dish_id: str) -> dict[str, Any]:
    dish = await records.get_one(s, dishes_served, p, dish_id)
    ids = [
        r.purchase_id
        for r in await s.execute(
            dish_ingredients.select().where(dish_ingredients.c.dish_served_id == dish_id)
        )
    ]
    return {
        "dish": pick(dish, DISH_FIELDS),
        "batches": [await batch_with_supplier(s, p, i) for i in sorted(ids)],
    }


async def from_test(s: AsyncSession, p: Principal, test_id: str) -> dict[str, Any]:
    test = await records.get_one(s, pesticide_tests, p, test_id)
    out: dict[str, Any] = {
        "test": {k: test[k] for k in ("id", "item", "inhibition_pct", "result", "tested_at")}
    }
    if test["purchase_id"]:
        out.update(await batch_with_supplier(s, p, test["purchase_id"]))
        out["served_in"] = await forward(s, p, test["purchase_id"])
    else:
        out.update({"purchase": None, "supplier": None, "served_in": []})
    return out
