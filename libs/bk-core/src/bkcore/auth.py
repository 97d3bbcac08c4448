"""Authentication and scoping.

Every request carries a JWT (``Authorization: Bearer``). The token names the caller's tenant,
role and — for staff — the root of the org subtree they may see (a materialised path such as
``/sz/nanshan``). Parents' bound sites are *not* trusted from the token: they are resolved on the
server for every call (a revoked binding takes effect at once).

Scoping rules (checked on the server for every call):
- ``platform_admin``: everything in their tenant.
- ``supervisor``: their tenant, org subtree ``org_path`` and below.
- ``site_manager`` / ``staff``: the sites listed in ``site_ids`` (within their tenant).
- ``parent``: the sites they are bound to (resolved server-side).
- ``service``: machine callers inside the tenant (or every tenant when tenant_id == "*").
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from enum import StrEnum

import jwt


class Role(StrEnum):
    PLATFORM_ADMIN = "platform_admin"
    SUPERVISOR = "supervisor"
    SITE_MANAGER = "site_manager"
    STAFF = "staff"
    PARENT = "parent"
    SERVICE = "service"


STAFF_ROLES = frozenset({Role.PLATFORM_ADMIN, Role.SUPERVISOR, Role.SITE_MANAGER, Role.STAFF})
ALL_TENANTS = "*"


class AuthError(Exception):
    """The caller is not authenticated (401)."""


class Forbidden(Exception):
    """The caller is authenticated but may not do this (403), or may not know it exists (404)."""


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str                     # user id (or service name)
    tenant_id: str
    role: Role
    org_path: str = "/"              # staff: root of the visible subtree
    site_ids: frozenset[str] = field(default_factory=frozenset)  # site staff: their sites
    name: str = ""

    def __post_init__(self) -> None:
        # in_subtree treats "" as the whole tenant; an empty or relative org path must never widen
        # a caller's view by accident, so refuse it outright (fail closed).
        if not self.org_path.startswith("/"):
            raise ValueError(f"org_path must be an absolute path, got {self.org_path!r}")

    def can_see_tenant(self, tenant_id: str) -> bool:
        return self.tenant_id in (tenant_id, ALL_TENANTS) if self.role == Role.SERVICE else (
            self.tenant_id == tenant_id
        )

    def can_see_org(self, tenant_id: str, org_path: str) -> bool:
        """Whether a thing at ``org_path`` in ``tenant_id`` is inside this caller's subtree."""
        if not self.can_see_tenant(tenant_id):
            return False
        if self.role in (Role.PLATFORM_ADMIN, Role.SERVICE):
            return True
        if self.role == Role.SUPERVISOR:
            return in_subtree(org_path, self.org_path)
        return False

    def can_see_site(self, tenant_id: str, site_id: str, site_org_path: str,
                     bound_site_ids: frozenset[str] | None = None) -> bool:
        """Whether the caller may see one site. Parents pass their server-side bindings."""
        if not self.can_see_tenant(tenant_id):
            return False
        if self.role in (Role.SITE_MANAGER, Role.STAFF):
            return site_id in self.site_ids
        if self.role == Role.PARENT:
            return bound_site_ids is not None and site_id in bound_site_ids
        return self.can_see_org(tenant_id, site_org_path)


def in_subtree(path: str, root: str) -> bool:
    """``/a/b/c`` is in the subtree of ``/a/b`` and of ``/a/b/c``; ``/a/bc`` is not in ``/a/b``."""
    root = root.rstrip("/")
    return root == "" or path == root or path.startswith(root + "/")


#: HMAC-SHA256 keys shorter than the hash (256 bits) are weak (RFC 7518, section 3.2; RFC 2104, 3).
MIN_SECRET_BYTES = 32


def check_hmac_key(secret: str, variable: str) -> None:
    """ValueError naming ``variable`` (never the value) when ``secret`` is too short an HMAC-SHA256 key:
    the access-token key (BK_JWT_SECRET) and the signed-URL key (BK_URL_SIGNING_SECRET)."""
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise ValueError(f"{variable} must be at least {MIN_SECRET_BYTES} bytes; "
                         "make one with `openssl rand -hex 32`")


class TokenIssuer:
    """Signs and verifies access tokens (HS256)."""

    def __init__(self, secret: str, *, issuer: str = "bright-kitchen", ttl_s: int = 12 * 3600) -> None:
        check_hmac_key(secret, "BK_JWT_SECRET")
        self._secret = secret
        self._issuer = issuer
        self.ttl_s = ttl_s

    def issue(self, principal: Principal, *, ttl_s: int | None = None, now: float | None = None) -> str:
        now = time.time() if now is None else now
        claims = {
            "sub": principal.subject,
            "tid": principal.tenant_id,
            "role": principal.role.value,
            "org": principal.org_path,
            "sites": sorted(principal.site_ids),
            "name": principal.name,
            "iss": self._issuer,
            "iat": int(now),
            "exp": int(now + (ttl_s if ttl_s is not None else self.ttl_s)),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def verify(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token, self._secret, algorithms=["HS256"], issuer=self._issuer,
                options={"require": ["exp", "sub", "iss"]},
            )
            return Principal(
                subject=claims["sub"], tenant_id=claims["tid"], role=Role(claims["role"]),
                org_path=claims.get("org", "/"), site_ids=frozenset(claims.get("sites") or ()),
                name=claims.get("name", ""),
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token expired") from None
        except (jwt.InvalidTokenError, KeyError, ValueError, TypeError, AttributeError) as exc:
            raise AuthError(f"invalid token: {exc}") from None
