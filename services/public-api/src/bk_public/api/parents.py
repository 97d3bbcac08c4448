"""A parent's own things: bindings to schools by invite code, and the bound sites."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, Field

from bk_public.context import Context, bound_sites, client_ip, get_ctx, parent, too_many, write_limited
from bk_public.flows import parents as flows
from bk_public.queries import public_site, site_info
from bk_public.rules import is_open, normalise_code
from bkcore.auth import Principal
from bkcore.clientip import ip_limit_key
from bkcore.throttle import Throttled

router = APIRouter(tags=["parent"])


class BindIn(BaseModel):
    invite_code: str = Field(..., min_length=4, max_length=32)
    child_label: str = Field("", max_length=32, description="e.g. 三年级二班 (never the child's name)")


class BindingOut(BaseModel):
    id: str
    site_id: str
    site_name: str
    child_label: str
    created_at: datetime


@router.post(
    "/bindings",
    response_model=BindingOut,
    status_code=201,
    summary="Bind to a school by invite code",
    responses={429: {"description": "too many wrong codes (this parent, this address, or everyone)"}},
)
async def bind(
    body: BindIn, request: Request, p: Principal = Depends(parent), ctx: Context = Depends(get_ctx)
) -> BindingOut:
    write_limited(ctx, p)
    ip = ip_limit_key(client_ip(request, ctx))
    try:
        await ctx.invites.before(p.subject, ip)
    except Throttled as exc:
        raise too_many(exc) from None
    code = normalise_code(body.invite_code)
    now = ctx.runtime.clock.now()
    inv = await flows.usable_invite(ctx.db, tenant_id=p.tenant_id, code=code, now=now)
    if inv is None:
        await ctx.invites.failed(p.subject, ip)
        raise HTTPException(400, detail="invalid or expired invite code")
    bid, created, label = await flows.bind(
        ctx.db,
        tenant_id=p.tenant_id,
        parent_id=p.subject,
        site_id=inv.site_id,
        code=code,
        child_label=body.child_label,
        now=now,
    )
    site = await site_info(ctx, tenant_id=p.tenant_id, site_id=inv.site_id)
    return BindingOut(
        id=bid, site_id=inv.site_id, site_name=site.get("name", ""), child_label=label, created_at=created
    )


@router.get("/bindings", response_model=list[BindingOut], summary="The caller's live bindings")
async def list_bindings(p: Principal = Depends(parent), ctx: Context = Depends(get_ctx)) -> list[BindingOut]:
    rows = await flows.live_bindings(ctx.db, tenant_id=p.tenant_id, parent_id=p.subject)
    out = []
    for r in rows:
        site = await site_info(ctx, tenant_id=p.tenant_id, site_id=r.site_id)
        out.append(
            BindingOut(
                id=r.id,
                site_id=r.site_id,
                site_name=site.get("name", ""),
                child_label=r.child_label,
                created_at=r.created_at,
            )
        )
    return out


@router.delete("/bindings/{binding_id}", status_code=204, summary="Unbind")
async def unbind(
    binding_id: str, p: Principal = Depends(parent), ctx: Context = Depends(get_ctx)
) -> Response:
    unbound = await flows.unbind(
        ctx.db, tenant_id=p.tenant_id, parent_id=p.subject, binding_id=binding_id, at=ctx.runtime.clock.now()
    )
    if not unbound:
        raise HTTPException(404, detail="not found")
    return Response(status_code=204)


@router.get("/sites", summary="Bound sites, with whether each is open now")
async def my_sites(p: Principal = Depends(parent), ctx: Context = Depends(get_ctx)) -> list[dict[str, Any]]:
    now, tz = ctx.runtime.clock.now(), ctx.settings.timezone
    out = []
    for site_id in sorted(await bound_sites(p, ctx)):
        site = await site_info(ctx, tenant_id=p.tenant_id, site_id=site_id)
        out.append({**public_site(site), "open_now": is_open(site.get("opening_hours", ""), now, tz)})
    return out
