"""Routes of accompanying meals and dishes served."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from bk_ledger.common.config import RuleConfig
from bk_ledger.common.context import LedgerContext
from bk_ledger.common.crud import WRITERS, Created, Prepared, ledger_router
from bk_ledger.common.deps import get_ctx, roles
from bk_ledger.meal import rules, service
from bk_ledger.meal.models import AccompanyingMealIn, DishServedIn, accompanying_meals
from bk_ledger.sites.models import SiteInfo
from bk_ledger.sites.service import visible_site
from bkcore.auth import Principal


def prepare(body: AccompanyingMealIn, cfg: RuleConfig, site: SiteInfo, rid: str) -> Prepared:
    findings = rules.rating_findings(
        site_id=site.site_id,
        record_id=rid,
        quality=body.quality.value,
        hygiene=body.hygiene.value,
        problems=body.problems,
    )
    return body.model_dump(exclude={"site_id"}), findings


dishes = APIRouter(prefix="/v1/dishes-served", tags=["dishes served 菜品"])


@dishes.post("", status_code=201, response_model=Created, summary="Record a dish served and its batches")
async def create(
    body: DishServedIn, p: Principal = Depends(roles(*WRITERS)), ctx: LedgerContext = Depends(get_ctx)
) -> Created:
    async with ctx.db.session() as s:
        site = await visible_site(s, p, body.site_id)
        dish_id = await service.record_dish(s, body, site=site, principal=p, now=ctx.now())
    return Created(id=dish_id, findings=[])


router = APIRouter()
router.include_router(
    ledger_router(
        path="accompanying-meals",
        tag="accompanying meal 陪餐",
        table=accompanying_meals,
        model=AccompanyingMealIn,
        date_col=accompanying_meals.c.meal_date,
        prepare=prepare,
    )
)
router.include_router(dishes)
