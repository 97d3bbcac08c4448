"""A parent's own things: bindings to schools by invite code, and the bound sites."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select, update

from bk_public.context import Context, bound_sites, client_ip, get_ctx, parent, too_many, write_limited
from bk_public.models import binding, invite_code
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


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


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
    async with ctx.db.session() as s:
        inv = (await s.execute(select(invite_code).where(invite_code.c.code == code))).first()
        # One answer for unknown, expired, revoked and foreign codes: nothing to probe.
        valid = not (
            inv is None
            or inv.tenant_id != p.tenant_id
            or inv.revoked_at is not None
            or _aware(inv.expires_at) <= now
        )
    if not valid:
        await ctx.invites.failed(p.subject, ip)
        raise HTTPException(400, detail="invalid or expired invite code")
    async with ctx.db.session() as s:
        existing = (
            await s.execute(
                select(binding).where(
                    binding.c.tenant_id == p.tenant_id,
                    binding.c.parent_id == p.subject,
                    binding.c.site_id == inv.site_id,
                    binding.c.revoked_at.is_(None),
                )
            )
        ).first()
        if existing is None:
            bid = "b-" + uuid.uuid4().hex[:16]
            await s.execute(
                binding.insert().values(
                    id=bid,
                    tenant_id=p.tenant_id,
                    parent_id=p.subject,
                    site_id=inv.site_id,
                    invite_code=code,
                    child_label=body.child_label,
                    created_at=now,
                )
            )
            created, label = now, body.child_label
        else:
            bid, created, label = existing.id, existing.created_at, existing.child_label
    site = await site_info(ctx, tenant_id=p.tenant_id, site_id=inv.site_id)
    return BindingOut(
        id=bid, site_id=inv.site_id, site_name=site.get("name", ""), child_label=label, created_at=created
    )


@router.get("/bindings", response_model=list[BindingOut], summary="The caller's live bindings")
async def list_bindings(p: Principal = Depends(parent), ctx: Context = Depends(get_ctx)) -> list[BindingOut]:
    async with ctx.db.session() as s:
        rows = (
            await s.execute(
                select(binding)
                .where(
                    binding.c.tenant_id == p.tenant_id,
                    binding.c.parent_id == p.subject,
                    binding.c.revoked_at.is_(None),
                )
                .order_by(binding.c.created_at)
            )
        ).all()
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
    async with ctx.db.session() as s:
        result = await s.execute(
            update(binding)
            .where(
                binding.c.id == binding_id,
                binding.c.tenant_id == p.tenant_id,
                binding.c.parent_id == p.subject,
                binding.c.revoked_at.is_(None),
            )
            .values(revoked_at=ctx.runtime.clock.now())
        )
    if result.rowcount == 0:
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
