"""The hot path of cached public reads: answer a cache hit before FastAPI's router sees it.

Routing and dependency solving cost several times more than the answer itself, and the answer of
a public read is the same bytes for everyone. So, for ``GET /public/red-black``,
``/public/notices`` and ``/public/kiosk/{site}``, this ASGI middleware parses the little the key
needs, and on a fresh cache entry charges the caller's IP budget and sends the stored bytes with
their ETag (304 when ``If-None-Match`` names it). Everything else — a miss, an unknown or invalid
parameter, any other path or method — goes on to the app unchanged, which validates, loads and
fills the cache, so both paths give the same answers. It sits inside the request-context
middleware (request id, logs, metrics) and labels its answers with the route's template.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from bk_public.api.public import (
    ID_PATTERN,
    KIND_PATTERN,
    TENANT_PATTERN,
    kiosk_key,
    notices_key,
    redblack_key,
)
from bk_public.cache import JsonBody
from bk_public.context import Context, scope_client_ip
from bk_public.ratelimit import RateLimited
from bk_public.rules import local_day

_TENANT = re.compile(TENANT_PATTERN)
_ID = re.compile(ID_PATTERN)
_KIND = re.compile(KIND_PATTERN)
_MAX_ID = 64
_KIOSK = "/public/kiosk/"
_Params = dict[str, str]


def _valid_id(value: str) -> bool:
    return len(value) <= _MAX_ID and _ID.match(value) is not None


class PublicReadFastPath:
    def __init__(self, app: ASGIApp, *, ctx: Context, routes: list[Any]) -> None:
        self.app = app
        self.ctx = ctx
        self._routes = routes  # the public router's routes: their templates label the metrics
        self._by_path: dict[str, Any] | None = None
        self._keys: dict[str, Callable[[str, _Params], tuple[Any, ...] | None]] = {
            "/public/red-black": self._redblack,
            "/public/notices": self._notices,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        path = _route_path(scope)
        entry: JsonBody | None = None
        if path.startswith("/public/"):
            key, template = self._key(path, scope["query_string"])
            entry = self.ctx.cache.peek(key) if key is not None else None
        if entry is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = self._route(template)
        try:
            self.ctx.ip_limit.hit(scope_client_ip(scope, self.ctx))
        except RateLimited as exc:
            body = json.dumps({"detail": str(exc)}).encode()
            await _send(send, 429, body, [(b"retry-after", str(int(exc.retry_after_s)).encode())])
            return
        headers = [(b"cache-control", self.ctx.public_cache_control.encode()), (b"etag", entry.etag.encode())]
        if entry.matches(_header(scope, b"if-none-match")):
            await _send(send, 304, b"", headers, content_type=False)
        else:
            await _send(send, 200, entry.body, headers)

    def _key(self, path: str, query: bytes) -> tuple[tuple[Any, ...] | None, str]:
        params: _Params = {}
        if query:
            for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
                if name in params:  # a repeated parameter: let the app decide what it means
                    return None, ""
                params[name] = value
        tenant = params.pop("tenant_id", None)
        if tenant is None:
            tenant = self.ctx.settings.default_tenant
        elif len(tenant) > _MAX_ID or not _TENANT.match(tenant):
            return None, ""
        if path.startswith(_KIOSK):
            site_id = path[len(_KIOSK) :]
            if params or not _valid_id(site_id):
                return None, ""
            day = local_day(self.ctx.runtime.clock.now(), self.ctx.settings.timezone)
            return kiosk_key(tenant, site_id, day), "/public/kiosk/{site_id}"
        make = self._keys.get(path)
        return (make(tenant, params), path) if make else (None, "")

    @staticmethod
    def _redblack(tenant: str, params: _Params) -> tuple[Any, ...] | None:
        return None if params else redblack_key(tenant)

    @staticmethod
    def _notices(tenant: str, params: _Params) -> tuple[Any, ...] | None:
        site_id, kind = params.pop("site_id", None), params.pop("kind", None)
        if params or (site_id is not None and not _valid_id(site_id)):
            return None
        if kind is not None and not _KIND.match(kind):
            return None
        return notices_key(tenant, site_id, kind)

    def _route(self, template: str) -> Any:
        if self._by_path is None:
            self._by_path = {getattr(r, "path", ""): r for r in self._routes}
        return self._by_path.get(template)


def _route_path(scope: Scope) -> str:
    """The path below the mount point (Starlette keeps the full path and sets ``root_path``)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("/", ""):
        return path[len(root) :]
    return path


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope["headers"]:
        if k == name:
            return v.decode("latin-1")  # type: ignore[no-any-return]
    return None


async def _send(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]], *, content_type: bool = True
) -> None:
    if content_type:
        headers.append((b"content-type", b"application/json"))
    if status != 304:
        headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
