"""FastAPI dependencies for module-level routers: the ledger's context, the caller, the one role gate."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from bk_ledger.common.context import LedgerContext
from bkcore.auth import Principal, Role
from bkcore.auth_http import require_access

_bearer = HTTPBearer(auto_error=False)  # we answer 401 ourselves (bk-core's Authenticator)


def get_ctx(request: Request) -> LedgerContext:
    return request.app.state.ctx  # type: ignore[no-any-return]


async def principal(
    request: Request,
    creds: HTTPAuthorizationCredentials | None = Depends(_bearer),
    ctx: LedgerContext = Depends(get_ctx),
) -> Principal:
    # Routers are module-level, the Authenticator is the service's: staff are checked against the
    # current directory (deactivated: 401).
    return await ctx.auth(request, creds)


def roles(*allowed: Role, scope: str | None = None) -> Callable[..., Awaitable[Principal]]:
    """Authenticate, then admit only ``allowed`` roles (403 otherwise); a route open to services
    names the ``scope`` they need (bk-core's one check: ``bkcore.auth.access_refusal``)."""
    return require_access(principal, allowed, scope)
