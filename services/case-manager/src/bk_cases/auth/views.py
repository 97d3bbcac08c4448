"""Routes: log in, who am I, and the issuer's token route for other services."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from sqlalchemy.ext.asyncio import AsyncSession

from bk_cases.auth.service import authenticate, principal_of
from bk_cases.auth.throttling import LoginGuard, login_keys
from bk_cases.context import Context
from bk_cases.deps import STAFF, db_session, get_ctx, roles
from bk_cases.directory.models import LoginIn, MeOut, Tenant, TokenOut
from bkcore.auth import Principal, TokenIssuer
from bkcore.clientip import TrustedProxies, ip_limit_key, request_client_ip
from bkcore.service_tokens import (
    SERVICE_IDENTITIES,
    TOKEN_PATH,
    NotAllowed,
    ServiceIdentity,
    TokenGrant,
    TokenRequest,
    grant,
)
from bkcore.throttle import Throttled

router = APIRouter(tags=["auth"])
_basic = HTTPBasic(auto_error=False)  # we answer 401 ourselves


@router.post(
    "/auth/login",
    response_model=TokenOut,
    summary="Exchange username + password for a JWT",
    responses={429: {"description": "too many failed attempts for this account or address (Retry-After)"}},
)
async def login(
    body: LoginIn,
    request: Request,
    tenant_id: str | None = None,
    ctx: Context = Depends(get_ctx),
    session: AsyncSession = Depends(db_session),
) -> TokenOut:
    issuer = _issuer(ctx)
    guard = _guard(ctx)
    keys = login_keys(
        body.username, ip_limit_key(request_client_ip(request, TrustedProxies.from_settings(ctx.settings)))
    )
    try:
        await guard.before(keys)
    except Throttled as exc:
        raise _too_many(exc) from None
    user = await authenticate(
        db_session=session, username=body.username, password=body.password, tenant_id=tenant_id
    )
    if user is None:
        await guard.failed(keys)
        raise HTTPException(401, detail="wrong username or password")
    await guard.succeeded(keys)
    return TokenOut(access_token=issuer.issue(principal_of(user)), expires_in=issuer.ttl_s)


@router.post(
    TOKEN_PATH,
    response_model=TokenGrant,
    summary="A service's own token, or a parent's session, for a service identity (client credentials)",
    responses={401: {"description": "unknown client or wrong secret"}, 403: {"description": "not allowed"}},
)
async def service_token(
    body: TokenRequest,
    creds: HTTPBasicCredentials | None = Depends(_basic),
    ctx: Context = Depends(get_ctx),
    session: AsyncSession = Depends(db_session),
) -> TokenGrant:
    identity = _client(ctx, creds)
    issuer = _issuer(ctx)
    if await session.get(Tenant, body.tenant_id) is None:
        raise HTTPException(404, detail="no such tenant")
    try:
        return grant(issuer, identity, body)
    except NotAllowed as exc:
        raise HTTPException(403, detail=str(exc)) from None


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


def _issuer(ctx: Context) -> TokenIssuer:
    if ctx.runtime.issuer is None:  # configuration error: only the issuer mounts these routes usefully
        raise HTTPException(503, detail="this case-manager does not hold the token-signing key")
    return ctx.runtime.issuer


def _guard(ctx: Context) -> LoginGuard:
    if ctx.login_guard is None:
        ctx.login_guard = LoginGuard(ctx.db, ctx.settings, ctx.runtime.clock)
    return ctx.login_guard


def _client(ctx: Context, creds: HTTPBasicCredentials | None) -> ServiceIdentity:
    """The service identity whose client secret was sent (RFC 6749, 2.3.1), or 401."""
    configured = ctx.settings.service_client_secrets.get(creds.username, []) if creds else []
    identity = SERVICE_IDENTITIES.get(creds.username) if creds else None
    sent = creds.password.encode("utf-8", "surrogatepass") if creds else b""
    # Every configured secret is compared (old and new during a rotation), each in constant time.
    matches = [hmac.compare_digest(s.get_secret_value().encode(), sent) for s in configured]
    if creds is None or identity is None or not any(matches):
        raise HTTPException(
            401,
            detail="unknown client or wrong secret",
            headers={"WWW-Authenticate": 'Basic realm="bright-kitchen"'},
        )
    return identity


def _too_many(exc: Throttled) -> HTTPException:
    return HTTPException(429, detail=str(exc), headers={"Retry-After": str(max(1, round(exc.retry_after_s)))})
