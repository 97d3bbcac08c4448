"""Mini-program login: a one-time code from the client → a parent session token."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field

from bk_public.context import Context, get_ctx, ip_limited
from bk_public.flows import auth as flows
from bk_public.identity import IdentityUnavailable, LoginFailed
from bkcore.service_tokens import TokenUnavailable

router = APIRouter(tags=["auth"])


class WxLoginIn(BaseModel):
    code: str = Field(
        ..., min_length=1, max_length=128, description="wx.login() code (embedded demo: any word)"
    )
    tenant_id: str | None = Field(None, max_length=64, pattern=r"^[a-z0-9_\-]+$")


class SessionOut(BaseModel):
    session_token: str
    expires_in: int
    parent_id: str
    tenant_id: str


@router.post(
    "/auth/wx-login",
    response_model=SessionOut,
    dependencies=[Depends(ip_limited)],
    summary="Exchange a mini-program login code for a session (creates the parent account)",
)
async def wx_login(body: WxLoginIn, ctx: Context = Depends(get_ctx)) -> SessionOut:
    tenant = body.tenant_id or ctx.settings.default_tenant
    if not await _tenant_known(ctx, tenant):  # before WeChat: a one-time code is not spent on a typo
        raise HTTPException(404, detail=f"no such tenant {tenant!r} / 没有这个辖区：请从学校的邀请链接进入")
    try:
        who = await ctx.identity.exchange(body.code)
    except LoginFailed as exc:
        raise HTTPException(401, detail=str(exc)) from None
    except IdentityUnavailable as exc:
        raise HTTPException(503, detail=str(exc), headers={"Retry-After": "5"}) from None
    pid = await flows.parent_account(
        ctx.db, tenant_id=tenant, openid=who.openid, nickname=who.nickname, now=ctx.runtime.clock.now()
    )
    ttl = ctx.settings.session_ttl_s
    try:  # signed by the one issuer (the case-manager): this service holds no signing key
        token = await ctx.tokens.parent_session(tenant, pid, who.nickname, ttl)
    except TokenUnavailable as exc:
        raise HTTPException(503, detail=str(exc)) from None
    return SessionOut(session_token=token, expires_in=ttl, parent_id=pid, tenant_id=tenant)


async def _tenant_known(ctx: Context, tenant_id: str) -> bool:
    """A tenant parents can log in to: one with sites in the directory (cached like public reads)."""
    return bool(await ctx.cached(("tenant-sites", tenant_id), lambda: ctx.upstream.sites(tenant_id)))
