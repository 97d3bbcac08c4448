"""Auth for FastAPI routes and SQL queries: who is calling, and which rows they may see.

    auth = Authenticator(runtime.tokens, audience=CASE_MANAGER)

    @router.get("/cases")
    async def list_cases(p: Principal = Depends(auth.require_roles(Role.SUPERVISOR, Role.SERVICE,
                                                                   scope=Scope.CASES_READ))):
        stmt = scope_to_principal(select(Case), p, tenant_col=Case.tenant_id,
                                  org_path_col=Case.org_path, site_id_col=Case.site_id)

The scoping rules live in ``bkcore.auth``; ``scope_to_principal`` is their SQL twin, so a list
endpoint filters in the database exactly as ``Principal.can_see_site`` filters one object.

Tokens come only from the ``Authorization`` header: a token in a query string ends up in access
logs, proxies and browser history, so a request carrying ``?access_token=`` is refused (401) —
except where ``query_token=True``, which only the console's server-sent-events stream uses
(``EventSource`` cannot send headers).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import ColumnElement, and_, false, func, or_
from sqlalchemy.orm import QueryableAttribute

from bkcore.auth import (
    ALL_TENANTS,
    AuthError,
    Principal,
    Role,
    TokenVerifier,
    access_refusal,
    operator_refusal,
)

if TYPE_CHECKING:
    from bkcore.directory import StaffAccess

_bearer = HTTPBearer(auto_error=False)  # we answer 401 ourselves, with a WWW-Authenticate header
Stmt = TypeVar("Stmt")  # Select, Update or Delete: anything with .where()
Col: TypeAlias = ColumnElement[Any] | QueryableAttribute[Any]  # a Core column or an ORM attribute


class Authenticator:
    """FastAPI dependency that turns ``Authorization: Bearer <jwt>`` into a ``Principal``.

    ``audience``: this service's name; a token that does not name it is refused.
    ``access``: the current directory (``bkcore.directory.StaffAccess``); with it, a staff caller is
    who the directory says they are now (deactivated: 401), not who the token said at login.
    """

    def __init__(
        self,
        issuer: TokenVerifier,
        *,
        audience: str,
        query_token: bool = False,
        access: StaffAccess | None = None,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.query_token = query_token
        self.access = access

    async def __call__(
        self, request: Request, creds: HTTPAuthorizationCredentials | None = Depends(_bearer)
    ) -> Principal:
        return await self.resolve(request, creds.credentials if creds is not None else None)

    async def resolve(self, request: Request, bearer: str | None = None) -> Principal:
        """``authenticate``, then checked against the current directory when there is one."""
        principal = self.authenticate(request, bearer)
        if self.access is not None:
            principal = await self.recheck(principal)
            request.state.principal = principal
        return principal

    async def recheck(self, principal: Principal) -> Principal:
        """The caller as the directory admits them now (401 when it no longer does): for every request,
        and again and again for a stream that outlives one."""
        if self.access is None:
            return principal
        try:
            return await self.access.current(principal)
        except AuthError as exc:
            raise _unauthorized(str(exc), error="invalid_token") from None

    def authenticate(self, request: Request, bearer: str | None = None) -> Principal:
        """The caller of ``request``; ``bearer``: the header's token when a dependency parsed it
        (None: read ``Authorization`` here, for apps that keep the scheme out of their OpenAPI)."""
        if bearer is None:
            scheme, _, value = request.headers.get("authorization", "").partition(" ")
            bearer = value.strip() if scheme.lower() == "bearer" and value.strip() else None
        in_query = request.query_params.get(QUERY_TOKEN)
        if in_query is not None and not self.query_token:
            raise _unauthorized(QUERY_TOKEN_REFUSED, error="invalid_request")
        token = bearer if bearer is not None else in_query
        if not token:
            raise _unauthorized("bearer token required", error=None)
        try:
            principal = self.issuer.verify(token, audience=self.audience)
        except AuthError as exc:
            raise _unauthorized(str(exc), error="invalid_token") from None
        request.state.principal = principal  # for logs and middleware further down the line
        return principal

    def require_roles(self, *roles: Role, scope: str | None = None) -> Callable[..., Awaitable[Principal]]:
        """A dependency that authenticates and then admits only the given roles (403 otherwise).

        A route open to ``Role.SERVICE`` must name the ``scope`` a service identity needs for it.
        """
        return require_access(self, roles, scope)

    def require_operator(self, operator_tenant: str, *, scope: str) -> Callable[..., Awaitable[Principal]]:
        """A dependency that admits the operator alone (403 otherwise): the platform admins of
        ``operator_tenant`` and service identities holding ``scope`` (``bkcore.auth.operator_refusal``)."""

        async def dependency(principal: Principal = Depends(self)) -> Principal:
            if why := operator_refusal(principal, operator_tenant, scope):
                raise HTTPException(403, detail=why)
            return principal

        return dependency


def require_access(
    authenticate: Callable[..., Awaitable[Principal]], roles: Collection[Role], scope: str | None = None
) -> Callable[..., Awaitable[Principal]]:
    """The one role/scope gate (``bkcore.auth.access_refusal``) over any authenticating dependency."""
    allowed = frozenset(roles)
    if Role.SERVICE in allowed and scope is None:
        raise ValueError("a route open to services must name the scope they need")

    async def dependency(principal: Principal = Depends(authenticate)) -> Principal:
        if why := access_refusal(principal, allowed, scope):
            raise HTTPException(403, detail=why)
        return principal

    return dependency


#: RFC 6750, section 2.3: the query parameter a bearer token travels in.
QUERY_TOKEN = "access_token"
QUERY_TOKEN_REFUSED = (
    "access tokens are not accepted in the query string (they end up in logs); "
    "send them in the Authorization header: 'Authorization: Bearer <token>'"
)


def _unauthorized(detail: str, *, error: str | None) -> HTTPException:
    # RFC 6750 §3: no error code when credentials are missing, invalid_token when they are bad.
    challenge = 'Bearer realm="bright-kitchen"'
    if error:
        challenge += f', error="{error}"'
    return HTTPException(401, detail=detail, headers={"WWW-Authenticate": challenge})


def ensure_site_visible(
    principal: Principal,
    tenant_id: str,
    site_id: str,
    site_org_path: str,
    bound_site_ids: Collection[str] | None = None,
) -> None:
    """404 unless the caller may see the site: a 403 would confirm that the site exists."""
    bound = frozenset(bound_site_ids) if bound_site_ids is not None else None
    if not principal.can_see_site(tenant_id, site_id, site_org_path, bound):
        raise HTTPException(404, detail="not found")


def scope_to_principal(
    stmt: Stmt,
    principal: Principal,
    *,
    tenant_col: Col,
    org_path_col: Col | None,
    site_id_col: Col | None,
    bound_site_ids: Collection[str] | None = None,
) -> Stmt:
    """Add the WHERE clauses that keep ``stmt`` inside what ``principal`` may see.

    Fails closed: a role the table cannot be scoped for (no site column for site staff, no
    bindings passed for a parent) sees nothing rather than everything.
    """
    clause = scope_clause(
        principal,
        tenant_col=tenant_col,
        org_path_col=org_path_col,
        site_id_col=site_id_col,
        bound_site_ids=bound_site_ids,
    )
    return stmt.where(clause)  # type: ignore[attr-defined]


def scope_clause(
    principal: Principal,
    *,
    tenant_col: Col,
    org_path_col: Col | None,
    site_id_col: Col | None,
    bound_site_ids: Collection[str] | None = None,
) -> ColumnElement[bool]:
    """The boolean SQL expression behind ``scope_to_principal`` (for joins and subqueries)."""
    role = principal.role
    if role == Role.SERVICE and principal.tenant_id == ALL_TENANTS:
        return tenant_col.is_not(None)  # every tenant, but still a real predicate
    tenant = tenant_col == principal.tenant_id
    if role in (Role.PLATFORM_ADMIN, Role.SERVICE):
        return tenant
    if role == Role.SUPERVISOR:
        if org_path_col is None:
            return false()
        return and_(tenant, subtree_clause(org_path_col, principal.org_path))
    if role in (Role.SITE_MANAGER, Role.STAFF):
        return _sites_clause(tenant, site_id_col, principal.site_ids)
    if role == Role.PARENT and bound_site_ids is not None:
        return _sites_clause(tenant, site_id_col, bound_site_ids)
    return false()


def _sites_clause(
    tenant: ColumnElement[bool], site_id_col: Col | None, site_ids: Collection[str]
) -> ColumnElement[bool]:
    if site_id_col is None or not site_ids:
        return false()
    return and_(tenant, site_id_col.in_(sorted(site_ids)))


def subtree_clause(org_path_col: Col, root: str) -> ColumnElement[bool]:
    """SQL for ``in_subtree(col, root)``: ``col = root OR col LIKE root || '/%'``."""
    root = root.rstrip("/")
    if root == "":  # "/" is the whole tenant
        return org_path_col.is_not(None)
    prefix = root + "/"
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    # LIKE lets PostgreSQL use a text_pattern_ops index; the substr test keeps the match exact
    # where LIKE is case-insensitive (SQLite), so "/SZ/x" never slips into "/sz"'s subtree.
    return or_(
        org_path_col == root,
        and_(
            org_path_col.like(escaped + "%", escape="\\"), func.substr(org_path_col, 1, len(prefix)) == prefix
        ),
    )


__all__ = [
    "QUERY_TOKEN",
    "Authenticator",
    "ensure_site_visible",
    "require_access",
    "scope_clause",
    "scope_to_principal",
    "subtree_clause",
]
