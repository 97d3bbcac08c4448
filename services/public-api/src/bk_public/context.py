"""What every route needs, built once per service and reached through FastAPI dependencies."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Depends, HTTPException, Request
from sqlalchemy import select
from starlette.types import Scope

from bk_public.alarms import AlarmHub
from bk_public.cache import TTLCache
from bk_public.identity import IdentityProvider
from bk_public.invites import InviteGuard
from bk_public.models import binding
from bk_public.ratelimit import RateLimited, RateLimiter
from bk_public.settings import PublicSettings
from bk_public.upstream import Upstream, UpstreamError
from bkcore.auth import PUBLIC_API, STAFF_ROLES, Principal, Role, access_refusal
from bkcore.auth_http import Authenticator
from bkcore.clientip import TrustedProxies
from bkcore.clientip import scope_client_ip as _client_ip
from bkcore.db import Database, OutboxRelay
from bkcore.directory import StaffAccess
from bkcore.service import Runtime
from bkcore.service_tokens import TokenSource
from bkcore.throttle import Throttled


@dataclass
class Context:
    settings: PublicSettings
    runtime: Runtime
    db: Database
    upstream: Upstream
    identity: IdentityProvider
    relay: OutboxRelay
    tokens: TokenSource  # this service's own tokens and parents' sessions, from the one issuer
    invites: InviteGuard  # failed invite codes: in total, per parent, per IP
    hub: AlarmHub = field(default_factory=AlarmHub)
    cache: TTLCache = field(default_factory=lambda: TTLCache(30.0))
    user_limit: RateLimiter = field(default_factory=lambda: RateLimiter(120))
    ip_limit: RateLimiter = field(default_factory=lambda: RateLimiter(600))
    write_limit: RateLimiter = field(default_factory=lambda: RateLimiter(10))
    #: Staff as the directory has them now (``bkcore.directory``); None: the token's word alone.
    access: StaffAccess | None = None

    def __post_init__(self) -> None:
        self.proxies = TrustedProxies.from_settings(self.settings)
        self.auth = Authenticator(self.runtime.tokens, audience=PUBLIC_API, access=self.access)
        # EventSource cannot send headers: the alarm stream alone may carry ?access_token=.
        self.stream_auth = Authenticator(
            self.runtime.tokens, audience=PUBLIC_API, query_token=True, access=self.access
        )

    @property
    def public_cache_control(self) -> str:
        # Same answer for everyone: let the CDN / ingress keep it as long as we do.
        return f"public, max-age={int(self.settings.cache_ttl_s)}"

    def invalidate_public(self, tenant_id: str) -> None:
        """Forget a tenant's cached public answers (red/black list, notices, kiosk) after a write."""
        self.cache.invalidate(("public", tenant_id))

    async def cached(self, key: tuple[Any, ...], load: Any) -> Any:
        try:
            return await self.cache.get_or_load(key, load)
        except UpstreamError as exc:
            raise HTTPException(503, detail=str(exc)) from None


async def get_ctx(request: Request) -> Context:
    # async: a plain def dependency would run in the thread pool, a thread hop on every request
    return request.app.state.ctx  # type: ignore[no-any-return]


def client_ip(request: Request, ctx: Context) -> str:
    return scope_client_ip(request.scope, ctx)


def scope_client_ip(scope: Scope, ctx: Context) -> str:
    """The caller's IP from an ASGI scope, by bk-core's one rule (``bkcore.clientip``)."""
    return _client_ip(scope, ctx.proxies)


def too_many(exc: Throttled) -> HTTPException:
    return HTTPException(429, detail=str(exc), headers={"Retry-After": str(max(1, round(exc.retry_after_s)))})


def _limit(limiter: RateLimiter, key: str) -> None:
    try:
        limiter.hit(key)
    except RateLimited as exc:
        raise HTTPException(
            429, detail=str(exc), headers={"Retry-After": str(int(exc.retry_after_s))}
        ) from None


async def ip_limited(request: Request, ctx: Context = Depends(get_ctx)) -> None:
    """Every public route: a budget per client IP."""
    _limit(ctx.ip_limit, client_ip(request, ctx))


async def principal(request: Request, ctx: Context = Depends(get_ctx)) -> Principal:
    """The caller from the Bearer header; a token in the query string is refused (401)."""
    return await ctx.auth.resolve(request)


async def stream_principal(request: Request, ctx: Context = Depends(get_ctx)) -> Principal:
    """The caller from the Bearer header or ``?access_token=``: for the alarm stream only."""
    return await ctx.stream_auth.resolve(request)


def _admit(p: Principal, roles: frozenset[Role], detail: str) -> Principal:
    # bk-core's one role check; the public edge keeps its own short wording for the 403.
    if access_refusal(p, roles) is not None:
        raise HTTPException(403, detail=detail)
    return p


async def parent(
    request: Request,
    p: Principal = Depends(principal),
    ctx: Context = Depends(get_ctx),
    _: None = Depends(ip_limited),
) -> Principal:
    _admit(p, _PARENTS, "parents only")
    _limit(ctx.user_limit, p.subject)
    return p


async def staff(p: Principal = Depends(principal)) -> Principal:
    return _admit(p, STAFF_ROLES, "staff only")


async def stream_staff(p: Principal = Depends(stream_principal)) -> Principal:
    """``staff`` for the alarm stream, whose token may come in the query string."""
    return _admit(p, STAFF_ROLES, "staff only")


_PARENTS = frozenset({Role.PARENT})


async def bound_sites(p: Principal, ctx: Context) -> frozenset[str]:
    """A parent's live bindings, read for every call: a revoked binding ends access at once."""
    async with ctx.db.session() as s:
        rows = await s.execute(
            select(binding.c.site_id).where(
                binding.c.tenant_id == p.tenant_id,
                binding.c.parent_id == p.subject,
                binding.c.revoked_at.is_(None),
            )
        )
    return frozenset(r[0] for r in rows)


async def ensure_bound(p: Principal, ctx: Context, site_id: str) -> None:
    """404 (not 403) for an unbound site, so a parent cannot probe which sites exist."""
    if site_id not in await bound_sites(p, ctx):
        raise HTTPException(404, detail="not found")


def write_limited(ctx: Context, p: Principal) -> None:
    _limit(ctx.write_limit, p.subject)
