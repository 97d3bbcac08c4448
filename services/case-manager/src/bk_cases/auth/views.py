"""Routes: log in, who am I."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException
from sqlalchemy.ext.asyncio import AsyncSession

from bk_cases.auth.service import authenticate, principal_of
from bk_cases.context import Context
from bk_cases.deps import STAFF, db_session, get_ctx, roles
from bk_cases.directory.models import LoginIn, MeOut, TokenOut
from bkcore.auth import Principal

router = APIRouter(tags=["auth"])


@router.post("/auth/login", response_model=TokenOut, summary="Exchange username + password for a JWT")
async def login(
    body: LoginIn,
    tenant_id: str | None = None,
    ctx: Context = Depends(get_ctx),
    session: AsyncSession = Depends(db_session),
) -> TokenOut:
    user = await authenticate(
        db_session=session, username=body.username, password=body.password, tenant_id=tenant_id
    )
    if user is None:
        raise HTTPException(401, detail="wrong username or password")
    tokens = ctx.runtime.tokens
    return TokenOut(access_token=tokens.issue(principal_of(user)), expires_in=tokens.ttl_s)


@router.get("/me", response_model=MeOut, summary="The caller, as the token names them")
async def me(p: Principal = Depends(roles(*STAFF))) -> MeOut:
    return MeOut(
        id=p.subject,
        tenant_id=p.tenant_id,
        role=p.role.value,
        name=p.name,
        org_path=p.org_path,
        site_ids=sorted(p.site_ids),
    )
