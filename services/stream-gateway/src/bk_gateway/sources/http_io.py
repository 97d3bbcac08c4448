"""HTTP(S) camera streams (HTTP-FLV, HLS, MJPEG over HTTP) fetched by us, not by FFmpeg.

FFmpeg's own HTTP client follows redirects to any host and lets an HLS playlist name any segment
URL, file:// included: one allowed URL could lead it anywhere. So PyAV gets ``PinnedHttp`` as its
``io_open``: every request of the stream (the first URL, each playlist, each segment, each redirect)
comes here, and each is held to the source policy: http or https only, the host resolved, every
address checked, the connection made to the checked address (pinned), with the original name kept in
the Host header and as the TLS server name (the certificate is verified against it).
"""

from __future__ import annotations

import base64
import http.client
import socket
from typing import Any, NoReturn
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from bk_gateway.source_policy import SourcePolicy, SourceRefused
from bk_gateway.sources.base import SourceError
from bk_gateway.urls import mask_url

REDIRECTS = (301, 302, 303, 307, 308)
USER_AGENT = "BrightKitchen-Gateway/1"


class HttpBody:
    """One response body as the non-seekable file PyAV reads (``read`` returns what is there)."""

    def __init__(self, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse) -> None:
        self._conn, self._resp = conn, resp

    def read(self, n: int = -1) -> bytes:
        return self._resp.read1(n if n > 0 else 65536)

    def close(self) -> None:
        self._resp.close()
        self._conn.close()


class PinnedHttp:
    """PyAV's ``io_open`` for one camera's stream."""

    def __init__(
        self, policy: SourcePolicy, tenant_id: str, *, timeout_s: float, max_redirects: int = 5
    ) -> None:
        self._policy, self._tenant = policy, tenant_id
        self._timeout_s, self._max_redirects = timeout_s, max_redirects

    def __call__(self, url: str, flags: int, options: dict[str, Any]) -> HttpBody:
        return self.open(url)

    def open(self, url: str) -> HttpBody:
        auth = _basic_auth(url)
        origin = urlsplit(url).netloc.rpartition("@")[2]
        for _ in range(self._max_redirects + 1):
            conn, resp = self._request(url, auth)
            if resp.status in REDIRECTS and resp.getheader("Location"):
                nxt = urljoin(url, resp.getheader("Location", ""))
                resp.close()
                conn.close()
                if urlsplit(nxt).netloc.rpartition("@")[2] != origin:
                    auth = None  # credentials are for the camera, not for wherever it points
                url = nxt
                continue
            if resp.status >= 400:
                status = resp.status
                resp.close()
                conn.close()
                raise _http_error(status)
            return HttpBody(conn, resp)
        raise SourceError("error", f"more than {self._max_redirects} redirects")

    def _request(
        self, url: str, auth: str | None
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https"):
            self._refuse(url, f"scheme {parts.scheme or '(none)'!r} inside an HTTP stream")
        try:
            target = self._policy.target(url, self._tenant)
        except ValueError as exc:  # InvalidSourceUrl: not a URL we would register either
            self._refuse(url, str(exc))
        host, port = target.host, parts.port or (443 if parts.scheme.lower() == "https" else 80)
        address = urlsplit(target.url).hostname or ""
        conn_cls = (
            http.client.HTTPSConnection if parts.scheme.lower() == "https" else http.client.HTTPConnection
        )
        conn = conn_cls(host, port, timeout=self._timeout_s)

        def connect_pinned(
            _addr: tuple[str, int],
            timeout: float | None = None,
            source_address: tuple[str, int] | None = None,
        ) -> socket.socket:
            return socket.create_connection((address, port), timeout, source_address)

        # http.client connects through this attribute; the Host header and the TLS server name stay
        # ``host`` (what the certificate must name), the socket goes to the checked address.
        conn._create_connection = connect_pinned  # type: ignore[attr-defined]
        path = urlunsplit(("", "", parts.path or "/", parts.query, ""))
        headers = {"User-Agent": USER_AGENT, "Accept": "*/*"}
        if auth:
            headers["Authorization"] = auth
        try:
            conn.request("GET", path, headers=headers)
            return conn, conn.getresponse()
        except (OSError, http.client.HTTPException):
            conn.close()
            raise

    def _refuse(self, url: str, cause: str) -> NoReturn:
        raise SourceRefused(f"{mask_url(url)}: {cause}")


def _basic_auth(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.username is None:
        return None
    raw = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def _http_error(status: int) -> SourceError:
    if status in (401, 403):
        return SourceError("unauthorized", "the camera refused the credentials (wrong user or password)")
    if status == 404:
        return SourceError("not_found", "the camera has no stream at this path")
    return SourceError("error", f"the camera answered HTTP {status}")
