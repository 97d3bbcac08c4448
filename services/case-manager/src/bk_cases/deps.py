"""FastAPI dependencies: the shared context, a transactional session, the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from bk_cases.context import Context
from bk_cases.directory.access import staff_access
from bkcore.auth import CASE_MANAGER, Principal, Role
from bkcore.auth_http import Authenticator, require_access

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
    # Staff are who the directory says they are now (deactivated: 401), not who the token says.
    auth = Authenticator(ctx.runtime.tokens, audience=CASE_MANAGER, access=staff_access(ctx))
    return await auth(request, creds)


def roles(*allowed: Role, scope: str | None = None) -> Callable[..., Awaitable[Principal]]:
    """Authenticate, then admit only ``allowed`` roles (403 otherwise); a route open to services
    names the ``scope`` they need (bk-core's one check: ``bkcore.auth.access_refusal``)."""
    return require_access(principal, allowed, scope)
