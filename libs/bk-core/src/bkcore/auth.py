"""Authentication and scoping.

Every request carries a JWT (``Authorization: Bearer``). The token names the caller's tenant,
role and — for staff — the root of the org subtree they may see (a materialised path such as
``/sz/nanshan``). Parents' bound sites are *not* trusted from the token: they are resolved on the
server for every call (a revoked binding takes effect at once).

Who can make a token: ONE issuer, the case-manager (it owns users and logins), signs with an
Ed25519 private key (EdDSA). Every other service holds only the public key(s), so a service that
checks tokens — the internet-facing public-api included — cannot make one. Each token names its
audience (the services it is for) and each service accepts only tokens that name it; service
identities carry narrow scopes (``cameras:read``, never ``cameras:write`` for the public edge).

Scoping rules (checked on the server for every call):
- ``platform_admin``: everything in their tenant.
- ``supervisor``: their tenant, org subtree ``org_path`` and below.
- ``site_manager`` / ``staff``: the sites listed in ``site_ids`` (within their tenant).
- ``parent``: the sites they are bound to (resolved server-side).
- ``service``: machine callers inside the tenant (or every tenant when tenant_id == "*"), and only
  for routes whose scope the identity holds (``access_refusal``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from enum import StrEnum

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bkcore.keys import key_id, public_key_pem


class Role(StrEnum):
    PLATFORM_ADMIN = "platform_admin"
    SUPERVISOR = "supervisor"
    SITE_MANAGER = "site_manager"
    STAFF = "staff"
    PARENT = "parent"
    SERVICE = "service"


STAFF_ROLES = frozenset({Role.PLATFORM_ADMIN, Role.SUPERVISOR, Role.SITE_MANAGER, Role.STAFF})
ALL_TENANTS = "*"

#: Audiences: a token names the services it is for (``aud``); each service accepts only its own.
CASE_MANAGER = "case-manager"
STREAM_GATEWAY = "stream-gateway"
LEDGER = "ledger"
DETECTOR = "detector"
PUBLIC_API = "public-api"
SERVICES = (CASE_MANAGER, STREAM_GATEWAY, LEDGER, DETECTOR, PUBLIC_API)
#: Staff work in the console, which calls every service; parents only ever reach the public edge.
STAFF_AUDIENCE = SERVICES
PARENT_AUDIENCE = (PUBLIC_API,)

#: The one algorithm tokens are signed with; anything else (HS256, none) is refused by name.
ALGORITHM = "EdDSA"
ISSUER = "bright-kitchen"


class Scope(StrEnum):
    """What a service identity may do. A route that admits ``Role.SERVICE`` names one of these."""

    SITES_READ = "sites:read"  # the directory's sites (case-manager)
    CASES_READ = "cases:read"  # cases (case-manager)
    CASES_EXPORT = "cases:export"  # the verdicts export (case-manager)
    CAMERAS_READ = "cameras:read"  # cameras, their state, snapshots, play URLs (gateway)
    CAMERAS_WRITE = "cameras:write"  # register, change, delete cameras (gateway)
    LEDGER_READ = "ledger:read"  # ledgers and their public summaries (ledger)
    MODELS_ADMIN = "models:admin"  # list and switch detector models (detector)
    WAREHOUSE_EXPORT = "warehouse:export"  # write a tenant's warehouse export (case-manager, ledger)


class AuthError(Exception):
    """The caller is not authenticated (401)."""


class Forbidden(Exception):
    """The caller is authenticated but may not do this (403), or may not know it exists (404)."""


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str  # user id (or service name)
    tenant_id: str
    role: Role
    org_path: str = "/"  # staff: root of the visible subtree
    site_ids: frozenset[str] = field(default_factory=frozenset)  # site staff: their sites
    name: str = ""
    scopes: frozenset[str] = field(default_factory=frozenset)  # services: what they may do (Scope)

    def __post_init__(self) -> None:
        # in_subtree treats "" as the whole tenant; an empty or relative org path must never widen
        # a caller's view by accident, so refuse it outright (fail closed).
        if not self.org_path.startswith("/"):
            raise ValueError(f"org_path must be an absolute path, got {self.org_path!r}")

    def can_see_tenant(self, tenant_id: str) -> bool:
        return (
            self.tenant_id in (tenant_id, ALL_TENANTS)
            if self.role == Role.SERVICE
            else (self.tenant_id == tenant_id)
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

    def can_see_site(
        self, tenant_id: str, site_id: str, site_org_path: str, bound_site_ids: frozenset[str] | None = None
    ) -> bool:
        """Whether the caller may see one site. Parents pass their server-side bindings."""
        if not self.can_see_tenant(tenant_id):
            return False
        if self.role in (Role.SITE_MANAGER, Role.STAFF):
            return site_id in self.site_ids
        if self.role == Role.PARENT:
            return bound_site_ids is not None and site_id in bound_site_ids
        return self.can_see_org(tenant_id, site_org_path)


def access_refusal(principal: Principal, roles: Collection[Role], scope: str | None = None) -> str | None:
    """Why ``principal`` may not call a route open to ``roles``; None when it may.

    The one role/scope check every service uses. A service identity must also hold the route's
    ``scope``; a route open to services that names no scope admits none (fail closed).
    """
    if principal.role not in roles:
        return f"role {principal.role.value!r} may not do this"
    if principal.role == Role.SERVICE and (scope is None or scope not in principal.scopes):
        return f"service {principal.subject!r} lacks the scope {str(scope or '(none named)')!r}"
    return None


def is_operator(*, role: Role | str, tenant_id: str, operator_tenant: str) -> bool:
    """A platform admin of the operator's tenant (``BK_OPERATOR_TENANT``): the one who administers
    what every tenant of a deployment shares (opening tenants, the detector's models). No operator
    tenant set: nobody is."""
    return role == Role.PLATFORM_ADMIN and bool(operator_tenant) and tenant_id == operator_tenant


def operator_refusal(principal: Principal, operator_tenant: str, scope: str) -> str | None:
    """Why ``principal`` may not administer what every tenant shares; None when it may: the operator's
    platform admins (``is_operator``) and service identities holding ``scope``. Another tenant's
    platform admin administers their own tenant, never the deployment."""
    if why := access_refusal(principal, (Role.PLATFORM_ADMIN, Role.SERVICE), scope):
        return why
    if principal.role == Role.SERVICE:
        return None
    if not operator_tenant:
        return (
            "未设置平台运营方租户 · no operator tenant is configured (BK_OPERATOR_TENANT): nobody "
            "administers what every tenant shares over the API"
        )
    if not is_operator(role=principal.role, tenant_id=principal.tenant_id, operator_tenant=operator_tenant):
        return (
            "只有平台运营方的管理员可以操作 · only platform admins of the operator tenant "
            "(BK_OPERATOR_TENANT) administer what every tenant shares"
        )
    return None


def default_audience(principal: Principal) -> tuple[str, ...]:
    """The services a person's token is for. Service tokens always name theirs (ValueError)."""
    if principal.role == Role.PARENT:
        return PARENT_AUDIENCE
    if principal.role in STAFF_ROLES:
        return STAFF_AUDIENCE
    raise ValueError("a service token must name its audience")


def in_subtree(path: str, root: str) -> bool:
    """``/a/b/c`` is in the subtree of ``/a/b`` and of ``/a/b/c``; ``/a/bc`` is not in ``/a/b``."""
    root = root.rstrip("/")
    return root == "" or path == root or path.startswith(root + "/")


class TokenVerifier:
    """Checks access tokens with the issuer's public keys: all a service other than the issuer holds.

    Several keys are accepted during a rotation; the token's ``kid`` says which signed it. Only
    EdDSA is accepted: an HS256 token made with the old shared secret, ``alg=none``, or a token
    naming an unknown key is refused before its claims are read.
    """

    def __init__(self, public_keys: Iterable[Ed25519PublicKey], *, issuer: str = ISSUER) -> None:
        self._keys = {key_id(k): k for k in public_keys}
        if not self._keys:
            raise ValueError("a token verifier needs at least one public key")
        self._issuer = issuer

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def public_keys_pem(self) -> str:
        """Every key this verifier accepts, as ``BK_JWT_PUBLIC_KEYS`` holds them (no private part)."""
        return "".join(public_key_pem(k) for k in self._keys.values())

    def verify(self, token: str, *, audience: str) -> Principal:
        """The caller named by ``token``, if it is valid, unexpired and for ``audience``."""
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != ALGORITHM:
                raise AuthError(f"invalid token: algorithm {header.get('alg')!r} is not accepted")
            key = self._keys.get(header.get("kid") or "")
            if key is None:
                raise AuthError("invalid token: signed by an unknown key")
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                audience=audience,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
            return Principal(
                subject=claims["sub"],
                tenant_id=claims["tid"],
                role=Role(claims["role"]),
                org_path=claims.get("org", "/"),
                site_ids=frozenset(claims.get("sites") or ()),
                name=claims.get("name", ""),
                scopes=frozenset(str(claims.get("scope") or "").split()),
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token expired") from None
        except jwt.InvalidAudienceError:
            raise AuthError(f"invalid token: not for {audience!r}") from None
        except (jwt.InvalidTokenError, KeyError, ValueError, TypeError, AttributeError) as exc:
            raise AuthError(f"invalid token: {exc}") from None


class TokenIssuer(TokenVerifier):
    """The issuer: signs access tokens with the Ed25519 private key (the case-manager alone holds it,
    and the embedded single process). ``accept``: the other public keys still valid during a rotation."""

    def __init__(
        self,
        private_key: Ed25519PrivateKey,
        *,
        accept: Iterable[Ed25519PublicKey] = (),
        issuer: str = ISSUER,
        ttl_s: int = 12 * 3600,
    ) -> None:
        if not isinstance(private_key, Ed25519PrivateKey):
            raise TypeError("TokenIssuer needs an Ed25519 private key (bkcore.keys)")
        super().__init__([private_key.public_key(), *accept], issuer=issuer)
        self._private_key = private_key
        self.kid = key_id(private_key.public_key())
        self.ttl_s = ttl_s

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._private_key.public_key()

    def issue(
        self,
        principal: Principal,
        *,
        audience: Collection[str] | None = None,
        ttl_s: int | None = None,
        now: float | None = None,
    ) -> str:
        now = time.time() if now is None else now
        aud = sorted(audience) if audience is not None else list(default_audience(principal))
        if not aud:
            raise ValueError("a token needs at least one audience")
        claims: dict[str, object] = {
            "sub": principal.subject,
            "tid": principal.tenant_id,
            "role": principal.role.value,
            "org": principal.org_path,
            "sites": sorted(principal.site_ids),
            "name": principal.name,
            "iss": self._issuer,
            "aud": aud,
            "iat": int(now),
            "exp": int(now + (ttl_s if ttl_s is not None else self.ttl_s)),
            "jti": uuid.uuid4().hex,
        }
        if principal.scopes:
            claims["scope"] = " ".join(sorted(principal.scopes))  # RFC 8693's space-separated form
        return jwt.encode(claims, self._private_key, algorithm=ALGORITHM, headers={"kid": self.kid})
