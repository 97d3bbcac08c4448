"""FastAPI dependencies: the gateway the app serves, the caller, the one role gate."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from bkcore.auth import Principal, Role
from bkcore.auth_http import require_access

if TYPE_CHECKING:
    from bk_gateway.service import GatewayService

#: Who reads cameras, their status and the AI banner.
READERS = (Role.PLATFORM_ADMIN, Role.SUPERVISOR, Role.SITE_MANAGER, Role.STAFF, Role.SERVICE)
#: Who registers and edits cameras: platform admins in their tenant, bureau supervisors for the sites
#: of their subtree (``flows.check_place``), services holding cameras:write.
MANAGERS = (Role.PLATFORM_ADMIN, Role.SUPERVISOR, Role.SERVICE)
_bearer = HTTPBearer(auto_error=False)  # we answer 401 ourselves (bk-core's Authenticator)


def get_svc(request: Request) -> GatewayService:
    return request.app.state.gateway  # type: ignore[no-any-return]


async def principal(
    request: Request,
    creds: HTTPAuthorizationCredentials | None = Depends(_bearer),
    svc: GatewayService = Depends(get_svc),
) -> Principal:
    # Routers are module-level, the token issuer and the directory are the service's: its
    # Authenticator checks staff against the current directory (deactivated: 401).
    return await svc.auth(request, creds)


def roles(*allowed: Role, scope: str | None = None) -> Callable[..., Awaitable[Principal]]:
    """Authenticate, then admit only ``allowed`` roles (403 otherwise); a route open to services
    names the ``scope`` they need (bk-core's one check: ``bkcore.auth.access_refusal``)."""
    return require_access(principal, allowed, scope)
