"""The other services as the public edge sees them: a small interface and its HTTP adapter.

Public-api owns no site, camera, ledger or case data; it asks the owners over their HTTP APIs with a
service token, and caches what is public. Tests plug in a fake with the same methods.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

import httpx

from bkcore.auth import Principal, Role, TokenIssuer

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
        """Signed, expiring play URLs of a camera: {flv, hls, expires_at}."""

    async def snapshot_url(self, tenant_id: str, camera_id: str) -> str | None:
        """A URL of the camera's latest frame, or None."""

    async def ledger_public(self, tenant_id: str, site_id: str, day: str) -> Json:
        """The ledger's public summary of one site and day (no personal data)."""

    async def case(self, tenant_id: str, case_id: str) -> Json | None:
        """The case-manager's view of one case (for rectification evidence)."""


class HttpUpstream:
    """``Upstream`` over the services' REST APIs, authenticated with a short-lived service token."""

    def __init__(
        self,
        *,
        tokens: TokenIssuer,
        base_urls: Callable[[], dict[str, str]],
        timeout_s: float = 3.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._tokens = tokens
        self._base_urls = base_urls  # resolved per call: embedded mode learns its port late
        self._client = client or httpx.AsyncClient(timeout=timeout_s)

    async def aclose(self) -> None:
        await self._client.aclose()

    def _headers(self, tenant_id: str, role: Role = Role.SERVICE) -> dict[str, str]:
        token = self._tokens.issue(
            Principal(subject="public-api", tenant_id=tenant_id, role=role, name="public-api"), ttl_s=60
        )
        return {"Authorization": f"Bearer {token}"}

    async def _get(self, service: str, path: str, tenant_id: str, **params: Any) -> Any:
        url = self._base_urls()[service].rstrip("/") + path
        params = {k: v for k, v in params.items() if v is not None}
        try:
            resp = await self._client.get(url, params=params, headers=self._headers(tenant_id))
            if resp.status_code == 403:
                # Some staff-only routes do not admit machine callers yet: ask as the tenant's
                # platform operator, which sees exactly the same tenant.
                resp = await self._client.get(
                    url, params=params, headers=self._headers(tenant_id, Role.PLATFORM_ADMIN)
                )
        except httpx.HTTPError as exc:
            raise UpstreamError(f"{service} unreachable: {exc}") from None
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
        data = await self._get("gateway", f"/cameras/{camera_id}/live", tenant_id, ttl_s=ttl_s)
        if not data:
            raise UpstreamError("gateway has no live view for this camera")
        return {
            "flv": data.get("flv") or data.get("flv_url") or "",
            "hls": data.get("hls") or data.get("hls_url") or "",
            "expires_at": data.get("expires_at"),
        }

    async def snapshot_url(self, tenant_id: str, camera_id: str) -> str | None:
        data = await self._get("gateway", f"/cameras/{camera_id}/snapshot-url", tenant_id)
        return (data or {}).get("url")

    async def ledger_public(self, tenant_id: str, site_id: str, day: str) -> Json:
        return await self._get("ledger", f"/public/sites/{site_id}/summary", tenant_id, day=day) or {}

    async def case(self, tenant_id: str, case_id: str) -> Json | None:
        return await self._get("cases", f"/cases/{case_id}", tenant_id)
