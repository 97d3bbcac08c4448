"""S3 (MinIO) object store for production, over the ``minio`` client.

The client is synchronous, so every call runs in a worker thread. The bucket is created on first
use (and by ``ready()``), so a fresh MinIO needs no manual set-up.
"""

from __future__ import annotations

import asyncio
import io
import os
import threading
from datetime import timedelta

import certifi
import urllib3
from minio import Minio
from minio.error import S3Error

from bkcore.objstore.base import ObjectNotFound, validate_key, validate_prefix

_MISSING = frozenset({"NoSuchKey", "NoSuchBucket", "NoSuchObject"})
_BUCKET_RACE = frozenset({"BucketAlreadyOwnedByYou", "BucketAlreadyExists"})
_MAX_PRESIGN_S = 7 * 24 * 3600  # S3's limit for SigV4 presigned URLs


def _http_client(cert_check: bool = True) -> urllib3.PoolManager:
    # minio's default waits up to 5 minutes to connect; readiness probes need an answer in seconds.
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=5, read=60),
        maxsize=16,
        cert_reqs="CERT_REQUIRED" if cert_check else "CERT_NONE",
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),  # as minio does
        retries=urllib3.Retry(total=3, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
    )


class S3ObjectStore:
    """``ObjectStore`` over one S3 bucket."""

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        secure: bool = False,
        region: str = "us-east-1",
        default_ttl_s: int = 600,
        *,
        public_endpoint: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.default_ttl_s = default_ttl_s
        creds = {"access_key": access_key or None, "secret_key": secret_key or None}
        self._client = Minio(endpoint, secure=secure, region=region, http_client=_http_client(), **creds)
        # A presigned URL is signed for its host; when clients reach S3 under another name than the
        # services do (ingress vs in-cluster DNS), presign with a client that names the public host.
        # With the region given, presigning is pure computation: this client never opens a socket.
        self._presigner = (
            Minio(public_endpoint, secure=secure, region=region, **creds) if public_endpoint else self._client
        )
        self._bucket_ok = False
        self._bucket_lock = threading.Lock()

    async def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        validate_key(key)
        await asyncio.to_thread(self._put_sync, key, data, content_type)

    async def get(self, key: str) -> bytes:
        validate_key(key)
        return await asyncio.to_thread(self._get_sync, key)

    async def exists(self, key: str) -> bool:
        validate_key(key)
        return await asyncio.to_thread(self._exists_sync, key)

    async def delete(self, key: str) -> None:
        validate_key(key)
        await asyncio.to_thread(self._client.remove_object, self.bucket, key)

    async def list(self, prefix: str) -> list[str]:
        validate_prefix(prefix)
        return await asyncio.to_thread(self._list_sync, prefix)

    async def signed_url(self, key: str, ttl_s: int | None = None) -> str:
        validate_key(key)
        ttl = self.default_ttl_s if ttl_s is None else ttl_s
        if not 0 < ttl <= _MAX_PRESIGN_S:
            raise ValueError(f"ttl_s must be in 1..{_MAX_PRESIGN_S}")
        return await asyncio.to_thread(
            self._presigner.presigned_get_object, self.bucket, key, expires=timedelta(seconds=ttl)
        )

    async def ready(self) -> bool:
        try:
            await asyncio.to_thread(self._ensure_bucket)
        except Exception:  # readiness is a yes/no answer; the reason is in the store's own logs
            return False
        return True

    # -- blocking helpers (run in threads) --------------------------------------------------------

    def _ensure_bucket(self) -> None:
        if self._bucket_ok:
            return
        with self._bucket_lock:
            if self._bucket_ok:
                return
            if not self._client.bucket_exists(self.bucket):
                try:
                    self._client.make_bucket(self.bucket)
                except S3Error as exc:  # another replica created it between our check and make
                    if exc.code not in _BUCKET_RACE:
                        raise
            self._bucket_ok = True

    def _put_sync(self, key: str, data: bytes, content_type: str) -> None:
        self._ensure_bucket()
        self._client.put_object(self.bucket, key, io.BytesIO(data), len(data), content_type=content_type)

    def _get_sync(self, key: str) -> bytes:
        try:
            resp = self._client.get_object(self.bucket, key)
        except S3Error as exc:
            if exc.code in _MISSING:
                raise ObjectNotFound(key) from None
            raise
        try:
            return resp.read()
        finally:
            resp.close()
            resp.release_conn()

    def _list_sync(self, prefix: str) -> list[str]:
        try:
            found = self._client.list_objects(self.bucket, prefix=prefix, recursive=True)
            return sorted(obj.object_name for obj in found if obj.object_name)
        except S3Error as exc:
            if exc.code in _MISSING:
                return []
            raise

    def _exists_sync(self, key: str) -> bool:
        try:
            self._client.stat_object(self.bucket, key)
        except S3Error as exc:
            if exc.code in _MISSING:
                return False
            raise
        return True
