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
from bk_public.models import binding
from bk_public.ratelimit import RateLimited, RateLimiter
from bk_public.settings import PublicSettings
from bk_public.upstream import Upstream, UpstreamError
from bkcore.auth import AuthError, Principal, Role
from bkcore.db import Database, OutboxRelay
from bkcore.service import Runtime


@dataclass
class Context:
    settings: PublicSettings
    runtime: Runtime
    db: Database
    upstream: Upstream
    identity: IdentityProvider
    relay: OutboxRelay
    hub: AlarmHub = field(default_factory=AlarmHub)
    cache: TTLCache = field(default_factory=lambda: TTLCache(30.0))
    user_limit: RateLimiter = field(default_factory=lambda: RateLimiter(120))
    ip_limit: RateLimiter = field(default_factory=lambda: RateLimiter(600))
    write_limit: RateLimiter = field(default_factory=lambda: RateLimiter(10))

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
    """The caller's IP from an ASGI scope (X-Forwarded-For only when configured to trust it)."""
    if ctx.settings.trust_forwarded_for:
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                return value.decode("latin-1").split(",")[0].strip()
    client = scope.get("client")
    return client[0] if client else "unknown"


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
    """The caller from the Bearer header (or ``?access_token=``: EventSource sends no headers)."""
    header = request.headers.get("authorization", "")
    token = (
        header[7:] if header.lower().startswith("bearer ") else request.query_params.get("access_token", "")
    )
    if not token:
        raise AuthError("bearer token required")
    p = ctx.runtime.tokens.verify(token)
    request.state.principal = p
    return p


async def parent(
    request: Request,
    p: Principal = Depends(principal),
    ctx: Context = Depends(get_ctx),
    _: None = Depends(ip_limited),
) -> Principal:
    if p.role != Role.PARENT:
        raise HTTPException(403, detail="parents only")
    _limit(ctx.user_limit, p.subject)
    return p


async def staff(p: Principal = Depends(principal)) -> Principal:
    if p.role not in (Role.PLATFORM_ADMIN, Role.SUPERVISOR, Role.SITE_MANAGER, Role.STAFF):
        raise HTTPException(403, detail="staff only")
    return p


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
