"""Staff manage the public window: invite codes for a school's parents, notices and tips, complaints."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Response
from pydantic import BaseModel, Field, StrictInt

from bk_public.context import Context, get_ctx, staff
from bk_public.evidence_log import record_access
from bk_public.flows import admin as flows
from bk_public.queries import site_info
from bk_public.rules import new_invite_code, normalise_code
from bkcore.auth import Principal, Role, access_refusal
from bkcore.auth_http import ensure_site_visible, require_access

router = APIRouter(prefix="/admin", tags=["admin"])
#: Who hands out and revokes parents' invite codes: site staff keep the ledgers, not the parents'
#: access (a revocation ends every binding made with the code).
inviter = require_access(staff, (Role.PLATFORM_ADMIN, Role.SUPERVISOR, Role.SITE_MANAGER))
#: Who publishes notices for the whole tenant (a site's staff publish for their own site only).
TENANT_PUBLISHERS = (Role.PLATFORM_ADMIN, Role.SUPERVISOR)


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
    await flows.add_invite_code(
        ctx.db,
        code=code,
        tenant_id=p.tenant_id,
        site_id=site_id,
        label=body.label,
        created_by=p.subject,
        created_at=now,
        expires_at=expires,
    )
    return {"code": code, "site_id": site_id, "label": body.label, "expires_at": expires}


@router.get("/sites/{site_id}/invite-codes", summary="A site's invite codes and how many parents each bound")
async def list_codes(
    site_id: str, p: Principal = Depends(staff), ctx: Context = Depends(get_ctx)
) -> list[dict[str, Any]]:
    await _visible_site(ctx, p, site_id)
    return await flows.site_invite_codes(ctx.db, tenant_id=p.tenant_id, site_id=site_id)


@router.delete(
    "/invite-codes/{code}", status_code=204, summary="Revoke a code and every binding made with it"
)
async def revoke_code(
    code: str, p: Principal = Depends(inviter), ctx: Context = Depends(get_ctx)
) -> Response:
    code = normalise_code(code)
    inv = await flows.invite_code_of(ctx.db, tenant_id=p.tenant_id, code=code)
    if inv is None:
        raise HTTPException(404, detail="not found")
    await _visible_site(ctx, p, inv.site_id)
    await flows.revoke_invite_code(ctx.db, code=code, at=ctx.runtime.clock.now())
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
    elif access_refusal(p, TENANT_PUBLISHERS):
        raise HTTPException(403, detail="only supervisors publish tenant-wide notices")
    nid = "n-" + uuid.uuid4().hex[:16]
    await flows.add_notice(
        ctx.db,
        notice_id=nid,
        tenant_id=p.tenant_id,
        site_id=body.site_id,
        kind=body.kind,
        title=body.title,
        body=body.body,
        published_at=ctx.runtime.clock.now(),
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
    rows = await flows.site_complaints(ctx.db, tenant_id=p.tenant_id, site_id=site_id)
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
