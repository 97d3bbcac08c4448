"""Reads anyone may make (no login): red/black list, notices and tips, the canteen-door kiosk.

The same answer goes to everyone, so each is cached serialised (bytes + ETag) per tenant: a cache
hit costs a dict look-up and one write, no database, no upstream call, no JSON encoding. Writes
that change an answer (case events, ratings, notices) drop the tenant's entries
(``Context.invalidate_public``); the TTL bounds staleness for everything else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel

from bk_public.api.site_views import public_ledger
from bk_public.cache import JsonBody
from bk_public.context import Context, get_ctx, ip_limited
from bk_public.flows import public as flows
from bk_public.queries import public_site, red_black, site_info, site_score
from bk_public.rules import local_day

router = APIRouter(tags=["public"], dependencies=[Depends(ip_limited)])
ID_PATTERN = r"^[A-Za-z0-9_\-.]+$"
TENANT_PATTERN = r"^[a-z0-9_\-]+$"
KIND_PATTERN = r"^(notice|tip)$"
_TENANT = Query(None, max_length=64, pattern=TENANT_PATTERN, description="tenant; default the platform's")
_NOT_MODIFIED: dict[int | str, dict[str, Any]] = {304: {"description": "Not modified (If-None-Match)"}}


class RankedSite(BaseModel):
    site_id: str
    name: str
    kind: str
    score: float  # the case-manager's 食安指数, as published (site_scores.v1)
    grade: str  # risk grade: low, medium, high
    inspection_frequency: str  # yearly, quarterly, monthly
    rank: int


class RedBlackOut(BaseModel):
    red: list[RankedSite]
    black: list[RankedSite]


class NoticeOut(BaseModel):
    id: str
    kind: str
    title: str
    body: str
    site_id: str | None
    published_at: datetime


class KioskSite(BaseModel):
    id: str | None
    name: str | None
    kind: str | None
    address: str | None
    latitude: float | None
    longitude: float | None
    opening_hours: str | None
    org_path: str | None


class KioskOut(BaseModel):
    site: KioskSite
    score: float | None  # None until the case-manager has scored the site
    ledger: dict[str, Any]


# Cache keys, shared with the fast path (bk_public.fastpath) so both always agree.
def redblack_key(tenant_id: str) -> tuple[str, ...]:
    return ("public", tenant_id, "redblack")


def notices_key(tenant_id: str, site_id: str | None, kind: str | None) -> tuple[str | None, ...]:
    return ("public", tenant_id, "notices", site_id, kind)


def kiosk_key(tenant_id: str, site_id: str, day: str) -> tuple[str, ...]:
    return ("public", tenant_id, "kiosk", site_id, day)


def public_headers(ctx: Context, entry: JsonBody) -> dict[str, str]:
    return {"Cache-Control": ctx.public_cache_control, "ETag": entry.etag}


async def _serve(
    request: Request, ctx: Context, key: tuple[Any, ...], load: Callable[[], Awaitable[Any]]
) -> Response:
    async def serialise() -> JsonBody:
        return JsonBody.of(await load())

    entry: JsonBody = await ctx.cached(key, serialise)
    headers = public_headers(ctx, entry)
    if entry.matches(request.headers.get("if-none-match")):
        return Response(status_code=304, headers=headers)
    return Response(entry.body, media_type="application/json", headers=headers)


@router.get(
    "/public/red-black",
    response_model=RedBlackOut,
    responses=_NOT_MODIFIED,
    summary="红黑榜: the red (best) and black (worst) lists as the case-manager published them",
)
async def red_black_list(
    request: Request, tenant_id: str | None = _TENANT, ctx: Context = Depends(get_ctx)
) -> Response:
    tenant = tenant_id or ctx.settings.default_tenant
    return await _serve(request, ctx, redblack_key(tenant), lambda: red_black(ctx, tenant_id=tenant))


@router.get(
    "/public/notices",
    response_model=list[NoticeOut],
    responses=_NOT_MODIFIED,
    summary="Notices (公告) and food-safety tips (科普)",
)
async def notices(
    request: Request,
    tenant_id: str | None = _TENANT,
    site_id: str | None = Query(None, max_length=64, pattern=ID_PATTERN),
    kind: str | None = Query(None, pattern=KIND_PATTERN),
    ctx: Context = Depends(get_ctx),
) -> Response:
    tenant = tenant_id or ctx.settings.default_tenant
    return await _serve(
        request,
        ctx,
        notices_key(tenant, site_id, kind),
        lambda: flows.notices(ctx.db, tenant_id=tenant, site_id=site_id, kind=kind),
    )


@router.get(
    "/public/kiosk/{site_id}",
    response_model=KioskOut,
    responses={**_NOT_MODIFIED, 404: {"description": "Unknown site"}},
    summary="Canteen-door display: today's tests, morning check, samples",
)
async def kiosk(
    request: Request,
    site_id: str = Path(..., max_length=64, pattern=ID_PATTERN),
    tenant_id: str | None = _TENANT,
    ctx: Context = Depends(get_ctx),
) -> Response:
    tenant = tenant_id or ctx.settings.default_tenant
    day = local_day(ctx.runtime.clock.now(), ctx.settings.timezone)

    async def load() -> dict[str, Any]:
        site = await site_info(ctx, tenant_id=tenant, site_id=site_id)
        return {
            "site": public_site(site),
            "score": (await site_score(ctx, tenant_id=tenant, site_id=site_id))["score"],
            "ledger": await public_ledger(ctx, tenant_id=tenant, site_id=site_id),
        }

    return await _serve(request, ctx, kiosk_key(tenant, site_id, day), load)
