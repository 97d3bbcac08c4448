"""Choose the object-store adapter from settings: the one place the two modes differ."""

from __future__ import annotations

from bkcore.objstore.base import ObjectStore
from bkcore.objstore.local import LocalObjectStore
from bkcore.objstore.s3 import S3ObjectStore
from bkcore.secrets import embedded_secret
from bkcore.settings import CoreSettings, Mode, StoreKind

SECRET_NAME = "url_signing"


def make_object_store(settings: CoreSettings) -> ObjectStore:
    if settings.object_store == StoreKind.S3:
        return S3ObjectStore(
            endpoint=settings.s3_endpoint,
            access_key=settings.s3_access_key.get_secret_value(),
            secret_key=settings.s3_secret_key.get_secret_value(),
            bucket=settings.s3_bucket,
            secure=settings.s3_secure,
            region=settings.s3_region,
            default_ttl_s=settings.signed_url_ttl_s,
        )
    return LocalObjectStore(
        root=settings.data_dir / "objects",
        signing_secret=_url_signing_secret(settings),
        base_url=_base_url(settings),
        default_ttl_s=settings.signed_url_ttl_s,
    )


def _base_url(settings: CoreSettings) -> str:
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/")
    # A wildcard bind address is not somewhere a client can go; loopback is what it means locally.
    wildcard = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "[::1]"}
    host = wildcard.get(settings.http_host, settings.http_host)
    return f"http://{host}:{settings.http_port}"


def _url_signing_secret(settings: CoreSettings) -> str:
    configured = settings.url_signing_secret.get_secret_value()
    if configured:
        return configured
    if settings.mode != Mode.EMBEDDED:  # the settings validator already demands it; belt and braces
        raise ValueError("BK_URL_SIGNING_SECRET must be set outside embedded mode")
    # Generated once per installation and kept under data_dir, so links survive a restart.
    return embedded_secret(settings.data_dir, SECRET_NAME)
