"""The other services as the public edge sees them: a small interface and its HTTP adapter.

Public-api owns no site, camera, ledger or case data; it asks the owners over their HTTP APIs with a
service token, and caches what is public. Tests plug in a fake with the same methods.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import httpx

from bkcore.service_tokens import TokenSource, TokenUnavailable

log = logging.getLogger(__name__)
Json = dict[str, Any]


class UpstreamError(Exception):
    """Another service did not answer as expected (mapped to 503 at the edge)."""


class Upstream(Protocol):
    async def sites(self, tenant_id: str) -> list[Json]:
        """Every site of the tenant: id, name, kind, org_path, address, latitude, longitude, opening_hours."""

    async def site(self, tenant_id: str, site_id: str) -> Json | None:
        """One site with ``zones`` [{zone, name}] and ``cameras`` [{camera_id, zone, name}]."""

    async def live(self, tenant_id: str, camera_id: str, ttl_s: int) -> Json:
        """Signed, expiring play URLs of a camera: {flv, hls, expires_at}; raises
        LiveUnavailable when the gateway cannot give a live stream (the page shows stills)."""

    async def snapshot(self, tenant_id: str, camera_id: str) -> bytes | None:
        """The camera's latest frame as the gateway serves it (raw: faces not yet blurred), or None."""

    async def ledger_public(self, tenant_id: str, site_id: str, day: str) -> Json:
        """The ledger's public summary of one site and day (no personal data)."""

    async def case(self, tenant_id: str, case_id: str) -> Json | None:
        """The case-manager's view of one case (for rectification evidence)."""


def play_url_under(url: str, base: str) -> str:
    """A gateway play URL, under the gateway's base path.

    The gateway builds play URLs from the base it was reached at; mounted under a path prefix
    (embedded: ``/api/gateway``) it can leave the prefix out (``http://host/v1/live/...``). A URL on
    the gateway's own origin whose path lacks that prefix gets it back; any other URL (a public
    live host, ZLMediaKit) is left alone.
    """
    if not url:
        return url
    u, b = urlsplit(url), urlsplit(base)
    prefix = b.path.rstrip("/")
    if (
        prefix
        and (u.scheme, u.netloc) == (b.scheme, b.netloc)
        and u.path.startswith("/v1/")
        and not u.path.startswith(prefix + "/")
    ):
        return urlunsplit(u._replace(path=prefix + u.path))
    return url


class LiveUnavailable(UpstreamError):
    """The gateway refused a live view it cannot give (e.g. 409: a simulated camera has no stream)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class HttpUpstream:
    """``Upstream`` over the services' REST APIs, authenticated with a short-lived service token
    from the one issuer (scopes: read sites, cases, cameras and ledger summaries — nothing else).

    The routes, as their owners define them (each service mounted under its own base URL):

    - case-manager: ``GET /sites``, ``GET /sites/{id}``, ``GET /cases/{id}``
    - stream-gateway: ``POST /v1/cameras/{id}/live``, ``GET /v1/cameras/{id}/snapshot.jpg``
    - ledger: ``GET /v1/public/sites/{id}/summary?day=``
    """

    def __init__(
        self,
        *,
        tokens: TokenSource,
        base_urls: Callable[[], dict[str, str]],
        timeout_s: float = 3.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._tokens = tokens
        self._base_urls = base_urls  # resolved per call: embedded mode learns its port late
        self._client = client or httpx.AsyncClient(timeout=timeout_s)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _headers(self, tenant_id: str) -> dict[str, str]:
        # Always as a service of this one tenant: never borrow a person's role.
        try:
            token = await self._tokens.service_token(tenant_id)
        except TokenUnavailable as exc:
            raise UpstreamError(str(exc)) from None
        return {"Authorization": f"Bearer {token}"}

    async def _call(
        self, method: str, service: str, path: str, tenant_id: str, **params: Any
    ) -> httpx.Response:
        url = self._base_urls()[service].rstrip("/") + path
        params = {k: v for k, v in params.items() if v is not None}
        headers = await self._headers(tenant_id)
        try:
            resp = await self._client.request(method, url, params=params, headers=headers)
        except httpx.HTTPError as exc:
            raise UpstreamError(f"{service} unreachable: {exc}") from None
        return resp

    async def _get(self, service: str, path: str, tenant_id: str, **params: Any) -> Any:
        resp = await self._call("GET", service, path, tenant_id, **params)
        if resp.status_code == 404:
            return None
        if resp.status_code >= 400:
            raise UpstreamError(f"{service} {path} answered {resp.status_code}")
        return resp.json()

    async def sites(self, tenant_id: str) -> list[Json]:
        return list(await self._get("cases", "/sites", tenant_id) or [])

    async def site(self, tenant_id: str, site_id: str) -> Json | None:
        return await self._get("cases", f"/sites/{site_id}", tenant_id)

    async def live(self, tenant_id: str, camera_id: str, ttl_s: int) -> Json:
        path = f"/v1/cameras/{camera_id}/live"
        resp = await self._call("POST", "gateway", path, tenant_id)
        if resp.status_code in (404, 409, 501):
            raise LiveUnavailable(resp.status_code if resp.status_code != 501 else 409, _detail(resp))
        if resp.status_code >= 400:
            raise UpstreamError(f"gateway {path} answered {resp.status_code}")
        data = resp.json()
        base = self._base_urls()["gateway"]
        return {
            "flv": play_url_under(data.get("flv") or data.get("flv_url") or "", base),
            "hls": play_url_under(data.get("hls") or data.get("hls_url") or "", base),
            "expires_at": data.get("expires_at"),
        }

    async def snapshot(self, tenant_id: str, camera_id: str) -> bytes | None:
        resp = await self._call("GET", "gateway", f"/v1/cameras/{camera_id}/snapshot.jpg", tenant_id)
        if resp.status_code == 404:
            return None  # no frame yet
        if resp.status_code >= 400:
            raise UpstreamError(f"gateway snapshot of {camera_id} answered {resp.status_code}")
        return resp.content

    async def ledger_public(self, tenant_id: str, site_id: str, day: str) -> Json:
        return await self._get("ledger", f"/v1/public/sites/{site_id}/summary", tenant_id, day=day) or {}

    async def case(self, tenant_id: str, case_id: str) -> Json | None:
        return await self._get("cases", f"/cases/{case_id}", tenant_id)


def _detail(resp: httpx.Response) -> str:
    try:
        detail = resp.json().get("detail")
    except ValueError:
        detail = None
    return str(detail or resp.reason_phrase or resp.status_code)
