"""Service identities and where a service that cannot sign gets its tokens.

Only the issuer (the case-manager) holds the signing key. A service that calls others (today the
public-api) asks the issuer for a short-lived token as itself, authenticating with its client secret
(OAuth 2.0 client credentials, RFC 6749 section 4.4, ``client_secret_basic``); it asks the same way
for a parent's session after its own mini-program login. What each identity may hold is decided
here, by the issuer, never by the caller: the public-api may read sites, cases, cameras and ledger
summaries, and mint parent sessions for itself — never write cameras or ledger sites, and never a
staff token.

Two adapters, chosen by whether the process holds the key (the embedded single process does):
``LocalTokenSource`` signs in-process, ``HttpTokenSource`` calls ``POST /auth/tokens`` on the issuer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import httpx
from pydantic import BaseModel, Field

from bkcore.auth import (
    CASE_MANAGER,
    LEDGER,
    PARENT_AUDIENCE,
    PUBLIC_API,
    STREAM_GATEWAY,
    Principal,
    Role,
    Scope,
    TokenIssuer,
)

#: A service token lives this long; the caller renews it when less than a fifth is left.
SERVICE_TOKEN_TTL_S = 300
#: The longest parent session the issuer signs (the public-api's own setting is usually shorter).
MAX_PARENT_SESSION_S = 30 * 24 * 3600
#: The issuer's route, under the case-manager's base URL.
TOKEN_PATH = "/auth/tokens"


@dataclass(frozen=True, slots=True)
class ServiceIdentity:
    name: str
    scopes: frozenset[Scope]
    audience: tuple[str, ...]
    parent_sessions: bool = False  # may it ask for parents' session tokens (audience public-api only)


#: Every service identity the issuer knows. A caller not listed here gets no token at all.
SERVICE_IDENTITIES: dict[str, ServiceIdentity] = {
    PUBLIC_API: ServiceIdentity(
        name=PUBLIC_API,
        scopes=frozenset({Scope.SITES_READ, Scope.CASES_READ, Scope.CAMERAS_READ, Scope.LEDGER_READ}),
        audience=(CASE_MANAGER, STREAM_GATEWAY, LEDGER),
        parent_sessions=True,
    ),
}


class ParentSessionIn(BaseModel):
    subject: str = Field(..., min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")
    name: str = Field("", max_length=64)
    ttl_s: int = Field(..., ge=60, le=MAX_PARENT_SESSION_S)


class TokenRequest(BaseModel):
    """``POST /auth/tokens``: a service token for ``tenant_id``, or a parent's session in it."""

    tenant_id: str = Field(..., min_length=1, max_length=64, pattern=r"^[a-z0-9_\-]+$")
    parent: ParentSessionIn | None = None


class TokenGrant(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class NotAllowed(Exception):
    """The identity may not have what it asked for (403)."""


def grant(issuer: TokenIssuer, identity: ServiceIdentity, request: TokenRequest) -> TokenGrant:
    """The token ``identity`` asked for, signed: the one rule the issuer route and the embedded
    process share."""
    if request.parent is not None:
        if not identity.parent_sessions:
            raise NotAllowed(f"{identity.name} may not open parents' sessions")
        p = request.parent
        who = Principal(subject=p.subject, tenant_id=request.tenant_id, role=Role.PARENT, name=p.name)
        return TokenGrant(
            access_token=issuer.issue(who, audience=PARENT_AUDIENCE, ttl_s=p.ttl_s), expires_in=p.ttl_s
        )
    me = Principal(
        subject=identity.name,
        tenant_id=request.tenant_id,
        role=Role.SERVICE,
        name=identity.name,
        scopes=frozenset(identity.scopes),
    )
    token = issuer.issue(me, audience=identity.audience, ttl_s=SERVICE_TOKEN_TTL_S)
    return TokenGrant(access_token=token, expires_in=SERVICE_TOKEN_TTL_S)


class TokenSource(Protocol):
    async def service_token(self, tenant_id: str) -> str:
        """A token for this service as itself, in ``tenant_id`` (cached while fresh)."""

    async def parent_session(self, tenant_id: str, parent_id: str, name: str, ttl_s: int) -> str:
        """A parent's session token (audience: the public-api alone)."""


class LocalTokenSource:
    """Signs in-process: for the process that holds the key (the embedded mode's one process)."""

    def __init__(self, issuer: TokenIssuer, identity: ServiceIdentity) -> None:
        self._issuer, self._identity = issuer, identity

    async def service_token(self, tenant_id: str) -> str:
        return grant(self._issuer, self._identity, TokenRequest(tenant_id=tenant_id)).access_token

    async def parent_session(self, tenant_id: str, parent_id: str, name: str, ttl_s: int) -> str:
        parent = ParentSessionIn(subject=parent_id, name=name, ttl_s=ttl_s)
        return grant(
            self._issuer, self._identity, TokenRequest(tenant_id=tenant_id, parent=parent)
        ).access_token


class TokenUnavailable(Exception):
    """The issuer could not be reached or refused this service (the caller answers 503)."""


class HttpTokenSource:
    """Asks the issuer over HTTP, as ``client_id`` with its client secret; caches service tokens."""

    def __init__(
        self,
        *,
        issuer_url: Callable[[], str],
        client_id: str,
        client_secret: str,
        client: httpx.AsyncClient | None = None,
        timeout_s: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not client_secret:
            raise ValueError("HttpTokenSource needs the service's client secret (BK_SERVICE_CLIENT_SECRET)")
        self._url = issuer_url  # resolved per call: the embedded mode learns its port late
        self._auth = httpx.BasicAuth(client_id, client_secret)
        self._client = client or httpx.AsyncClient(timeout=timeout_s)
        self._clock = clock
        self._cache: dict[str, tuple[str, float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def aclose(self) -> None:
        await self._client.aclose()

    async def service_token(self, tenant_id: str) -> str:
        async with self._locks.setdefault(tenant_id, asyncio.Lock()):  # one request per tenant at once
            hit = self._cache.get(tenant_id)
            if hit is not None and hit[1] > self._clock():
                return hit[0]
            got = await self._request(TokenRequest(tenant_id=tenant_id))
            # Renew when a fifth of its life is left: never hand out a token about to expire.
            self._cache[tenant_id] = (got.access_token, self._clock() + got.expires_in * 0.8)
            return got.access_token

    async def parent_session(self, tenant_id: str, parent_id: str, name: str, ttl_s: int) -> str:
        parent = ParentSessionIn(subject=parent_id, name=name, ttl_s=ttl_s)
        return (await self._request(TokenRequest(tenant_id=tenant_id, parent=parent))).access_token

    async def _request(self, body: TokenRequest) -> TokenGrant:
        url = self._url().rstrip("/") + TOKEN_PATH
        try:
            resp = await self._client.post(url, json=body.model_dump(), auth=self._auth)
        except httpx.HTTPError as exc:
            raise TokenUnavailable(f"token issuer unreachable: {exc}") from None
        if resp.status_code != 200:
            raise TokenUnavailable(f"token issuer answered {resp.status_code}")
        return TokenGrant.model_validate(resp.json())
