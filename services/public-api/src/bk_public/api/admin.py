"""Staff manage the public window: invite codes for a school's parents, notices and tips, complaints."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Response
from pydantic import BaseModel, Field, StrictInt
from sqlalchemy import select, update

from bk_public.context import Context, get_ctx, staff
from bk_public.evidence_log import record_access
from bk_public.models import binding, complaint, invite_code, notice
from bk_public.queries import site_info
from bk_public.rules import new_invite_code, normalise_code
from bkcore.auth import Principal, Role
from bkcore.auth_http import ensure_site_visible, require_access

router = APIRouter(prefix="/admin", tags=["admin"])
#: Who hands out and revokes parents' invite codes: site staff keep the ledgers, not the parents'
#: access (a revocation ends every binding made with the code).
inviter = require_access(staff, (Role.PLATFORM_ADMIN, Role.SUPERVISOR, Role.SITE_MANAGER))


async def _visible_site(ctx: Context, p: Principal, site_id: str) -> dict[str, Any]:
    site = await site_info(ctx, tenant_id=p.tenant_id, site_id=site_id)
    ensure_site_visible(p, p.tenant_id, site_id, site.get("org_path", "\0"))
    return site


class InviteIn(BaseModel):
    label: str = Field("", max_length=64, description="e.g. 2026 级新生")
    # Strict: JSON true is not 1 day (schemathesis caught the lax bool -> int coercion).
    valid_days: StrictInt | None = Field(None, ge=1, le=365)


@router.post("/sites/{site_id}/invite-codes", status_code=201, summary="Issue an invite code for parents")
async def issue_code(
    site_id: str, body: InviteIn, p: Principal = Depends(inviter), ctx: Context = Depends(get_ctx)
) -> dict[str, Any]:
    await _visible_site(ctx, p, site_id)
    now = ctx.runtime.clock.now()
    expires = now + timedelta(days=body.valid_days or ctx.settings.invite_ttl_days)
    code = new_invite_code()
    async with ctx.db.session() as s:
        await s.execute(
            invite_code.insert().values(
                code=code,
                tenant_id=p.tenant_id,
                site_id=site_id,
                label=body.label,
                created_by=p.subject,
                created_at=now,
                expires_at=expires,
            )
        )
    return {"code": code, "site_id": site_id, "label": body.label, "expires_at": expires}


@router.get("/sites/{site_id}/invite-codes", summary="A site's invite codes and how many parents each bound")
async def list_codes(
    site_id: str, p: Principal = Depends(staff), ctx: Context = Depends(get_ctx)
) -> list[dict[str, Any]]:
    await _visible_site(ctx, p, site_id)
    async with ctx.db.session() as s:
        codes = (
            await s.execute(
                select(invite_code)
                .where(invite_code.c.tenant_id == p.tenant_id, invite_code.c.site_id == site_id)
                .order_by(invite_code.c.created_at.desc())
            )
        ).all()
        bound = (
            await s.execute(
                select(binding.c.invite_code).where(
                    binding.c.tenant_id == p.tenant_id,
                    binding.c.site_id == site_id,
                    binding.c.revoked_at.is_(None),
                )
            )
        ).all()
    counts: dict[str, int] = {}
    for (c,) in bound:
        counts[c] = counts.get(c, 0) + 1
    return [
        {
            "code": c.code,
            "label": c.label,
            "created_at": c.created_at,
            "expires_at": c.expires_at,
            "revoked": c.revoked_at is not None,
            "bound_parents": counts.get(c.code, 0),
        }
        for c in codes
    ]


@router.delete(
    "/invite-codes/{code}", status_code=204, summary="Revoke a code and every binding made with it"
)
async def revoke_code(
    code: str, p: Principal = Depends(inviter), ctx: Context = Depends(get_ctx)
) -> Response:
    code = normalise_code(code)
    async with ctx.db.session() as s:
        inv = (
            await s.execute(
                select(invite_code).where(invite_code.c.code == code, invite_code.c.tenant_id == p.tenant_id)
            )
        ).first()
    if inv is None:
        raise HTTPException(404, detail="not found")
    await _visible_site(ctx, p, inv.site_id)
    now = ctx.runtime.clock.now()
    async with ctx.db.session() as s:
        await s.execute(update(invite_code).where(invite_code.c.code == code).values(revoked_at=now))
        await s.execute(
            update(binding)
            .where(binding.c.invite_code == code, binding.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    return Response(status_code=204)


class NoticeIn(BaseModel):
    kind: str = Field("notice", pattern=r"^(notice|tip)$", max_length=16)
    title: str = Field(..., min_length=1, max_length=200)
    body: str = Field(..., min_length=1, max_length=5000)
    site_id: str | None = Field(None, max_length=64)


@router.post("/notices", status_code=201, summary="Publish a notice or a food-safety tip")
async def publish_notice(
    body: NoticeIn, p: Principal = Depends(staff), ctx: Context = Depends(get_ctx)
) -> dict[str, Any]:
    if body.site_id:
        await _visible_site(ctx, p, body.site_id)
    elif p.role not in (Role.PLATFORM_ADMIN, Role.SUPERVISOR):
        raise HTTPException(403, detail="only supervisors publish tenant-wide notices")
    nid = "n-" + uuid.uuid4().hex[:16]
    async with ctx.db.session() as s:
        await s.execute(
            notice.insert().values(
                id=nid,
                tenant_id=p.tenant_id,
                site_id=body.site_id,
                kind=body.kind,
                title=body.title,
                body=body.body,
                published_at=ctx.runtime.clock.now(),
            )
        )
    ctx.invalidate_public(p.tenant_id)
    return {"id": nid}


@router.get(
    "/sites/{site_id}/complaints", summary="Complaints filed about a site (reporters stay pseudonymous)"
)
async def site_complaints(
    site_id: str, p: Principal = Depends(staff), ctx: Context = Depends(get_ctx)
) -> list[dict[str, Any]]:
    await _visible_site(ctx, p, site_id)
    async with ctx.db.session() as s:
        rows = (
            await s.execute(
                select(complaint)
                .where(complaint.c.tenant_id == p.tenant_id, complaint.c.site_id == site_id)
                .order_by(complaint.c.created_at.desc())
                .limit(100)
            )
        ).all()
    out = [
        {
            "id": r.id,
            "category": r.category,
            "text": r.text,
            "created_at": r.created_at,
            "photo_urls": [await ctx.runtime.store.signed_url(k) for k in r.photo_keys],
        }
        for r in rows
    ]
    await record_access(
        ctx, p, via=f"console complaints of {site_id}", object_keys=[k for r in rows for k in r.photo_keys]
    )
    return out
