"""FastAPI dependencies: the shared context, a transactional session, the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from bk_cases.context import Context
from bkcore.auth import Principal, Role
from bkcore.auth_http import Authenticator

STAFF = (Role.PLATFORM_ADMIN, Role.SUPERVISOR, Role.SITE_MANAGER, Role.STAFF)
SUPERVISING = (Role.PLATFORM_ADMIN, Role.SUPERVISOR)
_bearer = HTTPBearer(auto_error=False)


def get_ctx(request: Request) -> Context:
    return request.app.state.ctx  # type: ignore[no-any-return]


async def db_session(ctx: Context = Depends(get_ctx)) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed when the route returns, rolled back on error."""
    async with ctx.db.session() as session:
        yield session


async def principal(
    request: Request,
    creds: HTTPAuthorizationCredentials | None = Depends(_bearer),
    ctx: Context = Depends(get_ctx),
) -> Principal:
    # Routers are module-level, the token issuer is the runtime's: build the authenticator per app.
    return await Authenticator(ctx.runtime.tokens)(request, creds)


def roles(*allowed: Role) -> Callable[..., Awaitable[Principal]]:
    """Authenticate, then admit only ``allowed`` roles (403 otherwise)."""
    admitted = frozenset(allowed)

    async def dependency(p: Principal = Depends(principal)) -> Principal:
        if p.role not in admitted:
            raise HTTPException(403, detail=f"role {p.role.value!r} may not do this")
        return p

    return dependency
