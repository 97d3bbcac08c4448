"""Which camera sources this gateway may open, and exactly what FFmpeg is then given.

A camera URL is typed by a tenant's admin; the gateway opens it from inside the platform's network
and serves what it decodes as that camera's snapshot and live view. So:

- **Files** only in embedded mode, and only under ``<media_dir>/<tenant_id>/``: symlinks and ``..``
  resolved before the check, the real path handed to FFmpeg. One tenant's clips are out of another
  tenant's reach; production refuses files altogether.
- **Network cameras** through ``bkcore.netpolicy``: the host resolved, every address checked, and
  FFmpeg given the checked address instead of the name (pinned), so DNS cannot swap it afterwards.
- ``sim:`` scenarios are rendered in-process and reach nothing.

The check runs when a camera is registered (422, naming the field) and again each time a stream is
opened (the name may resolve elsewhere by then). A refusal says one generic sentence
(``netpolicy.REFUSED``); what exactly was refused goes to the server's log only.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from bk_gateway.settings import GatewaySettings
from bk_gateway.urls import mask_url, network_host, source_kind, with_address
from bkcore.netpolicy import REFUSED, AddressPolicy, AddressRefused, Resolver
from bkcore.settings import Mode

log = logging.getLogger(__name__)
FILES_REFUSED = (
    "file sources are refused: a camera is a network stream (rtsp://, rtmp://, http(s)://) "
    "or sim:<scenario>; embedded installs may play clips from their media directory "
    "(BK_MEDIA_DIR/<tenant_id>/)"
)


class SourceRefused(Exception):
    """This gateway will not open the URL. ``public`` is what the tenant is told (the same whatever
    the cause); ``cause`` is for the server's log."""

    def __init__(self, cause: str, public: str = REFUSED) -> None:
        super().__init__(cause)
        self.cause, self.public = cause, public


@dataclass(frozen=True, slots=True)
class Target:
    """A camera URL after the policy: what FFmpeg opens, and the name it stood for."""

    kind: str
    url: str  # network: host replaced by the checked address; file: the real path; sim: as given
    host: str  # the original host name (HTTP Host, TLS server name); "" for files and sim


def address_policy(settings: GatewaySettings) -> AddressPolicy:
    """The camera address policy of these settings: internal addresses allowed wholesale only in
    embedded mode (unless ``camera_allow_internal`` says otherwise), else only the listed networks."""
    allow = settings.camera_allow_internal
    if allow is None:
        allow = settings.mode == Mode.EMBEDDED
    return AddressPolicy.build(
        allow_internal=allow,
        allowed_networks=settings.camera_allowed_networks,
        cluster_networks=settings.cluster_networks,
        allowed_setting="BK_CAMERA_ALLOWED_NETWORKS",
        cluster_setting="BK_CLUSTER_NETWORKS",
    )


def media_root(settings: GatewaySettings) -> Path | None:
    """Where file sources may be read: embedded mode only (default ``<data_dir>/media``)."""
    if settings.mode != Mode.EMBEDDED:
        return None
    return settings.media_dir or settings.data_dir / "media"


class SourcePolicy:
    def __init__(
        self, addresses: AddressPolicy, *, media_dir: Path | None, resolver: Resolver | None = None
    ) -> None:
        self.addresses = addresses
        self.media_dir = media_dir
        self.resolver = resolver

    @classmethod
    def from_settings(cls, settings: GatewaySettings, resolver: Resolver | None = None) -> SourcePolicy:
        return cls(address_policy(settings), media_dir=media_root(settings), resolver=resolver)

    def target(self, url: str, tenant_id: str, *, must_exist: bool = True) -> Target:
        """What FFmpeg may open for this tenant's URL (credentials, if any, stay in it). Raises
        SourceRefused. ``must_exist``: a file must be there (at open; at registration it may come
        later)."""
        kind = source_kind(url)
        if kind == "sim":
            return Target(kind, url, "")
        if kind == "file":
            return Target(kind, str(self._local_file(url, tenant_id, must_exist)), "")
        host, port = network_host(url)
        try:
            address = self.addresses.resolve(host, port, self.resolver)
        except AddressRefused as exc:
            raise SourceRefused(f"{mask_url(url)}: {exc.cause}") from None
        return Target(kind, with_address(url, address), host)

    def check(self, url: str, tenant_id: str) -> None:
        """At registration: raises SourceRefused (the API answers 422 naming the field)."""
        self.target(url, tenant_id, must_exist=False)

    async def refusals(
        self, urls: Mapping[str, str | None], tenant_id: str, *, timeout_s: float
    ) -> dict[str, str]:
        """At registration, off the event loop (names are resolved): field → what its author is told,
        for each URL refused. The cause is logged; a name that takes longer than ``timeout_s`` to
        resolve is refused like one that does not resolve."""
        out: dict[str, str] = {}
        for field, url in urls.items():
            if not url:
                continue
            try:
                await asyncio.wait_for(asyncio.to_thread(self.check, url, tenant_id), timeout_s)
            except SourceRefused as exc:
                log.info(
                    "camera %s refused for tenant %s: %s",
                    field,
                    tenant_id,
                    exc.cause,
                    extra={"tenant_id": tenant_id},
                )
                out[field] = exc.public
            except TimeoutError:
                log.info(
                    "camera %s refused for tenant %s: %s did not resolve within %g s",
                    field,
                    tenant_id,
                    mask_url(url),
                    timeout_s,
                    extra={"tenant_id": tenant_id},
                )
                out[field] = REFUSED
        return out

    def _local_file(self, url: str, tenant_id: str, must_exist: bool) -> Path:
        if self.media_dir is None:
            raise SourceRefused(f"file source {url!r} outside embedded mode", FILES_REFUSED)
        if url.startswith("file://"):
            parts = urlsplit(url)
            if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
                raise SourceRefused(f"file URL {url!r} names a host, a query or a fragment", FILES_REFUSED)
            path = unquote(parts.path)
        else:
            path = url
        root = self.media_dir.resolve()
        # The tenant's own directory, itself checked: a tenant id never climbs out of the root.
        mine = (root / tenant_id).resolve()
        real = Path(os.path.realpath(path))  # symlinks and ".." resolved before the check
        if not tenant_id or mine.parent != root or not real.is_relative_to(mine):
            raise SourceRefused(f"file source {path!r} (really {real}) is outside {mine}", FILES_REFUSED)
        if must_exist and not real.is_file():
            raise SourceRefused(f"file source {real} does not exist", FILES_REFUSED)
        return real
