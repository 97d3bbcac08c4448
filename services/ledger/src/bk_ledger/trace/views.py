"""Traceability routes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from bk_ledger.common.context import LedgerContext
from bk_ledger.common.crud import READERS
from bk_ledger.common.deps import get_ctx, roles
from bk_ledger.trace import service
from bkcore.auth import Principal

router = APIRouter(prefix="/v1/trace", tags=["trace 追溯"])
_reader = Depends(roles(*READERS))
_ctx = Depends(get_ctx)


@router.get("/dishes/{dish_id}", summary="Dish served → purchase batches → suppliers")
async def dish(dish_id: str, p: Principal = _reader, ctx: LedgerContext = _ctx) -> dict[str, Any]:
    async with ctx.db.session() as s:
        return await service.dish_back(s, p, dish_id)


@router.get("/pesticide-tests/{test_id}", summary="Failed test → batch → supplier, and forward to meals")
async def test(test_id: str, p: Principal = _reader, ctx: LedgerContext = _ctx) -> dict[str, Any]:
    async with ctx.db.session() as s:
        return await service.from_test(s, p, test_id)


@router.get("/purchases/{purchase_id}", summary="Batch → supplier, and forward to the meals served")
async def purchase(purchase_id: str, p: Principal = _reader, ctx: LedgerContext = _ctx) -> dict[str, Any]:
    async with ctx.db.session() as s:
        out = await service.batch_with_supplier(s, p, purchase_id)
        out["served_in"] = await service.forward(s, p, purchase_id)
        return out
