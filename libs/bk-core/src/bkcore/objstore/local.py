"""Local-directory object store for embedded mode.

Layout under ``root``: the object's bytes at ``root/<key>``, its content type in a sidecar at
``root/.meta/<key>``, and in-flight writes in ``root/.tmp``. Keys always start with an
alphanumeric character (``validate_key``), so the dot-folders can never collide with an object.

Signed URLs point at this service's own ``/objects`` route (``bkcore.objstore.http``) and carry an
HMAC over the key and the expiry, so they can be handed to browsers and mini-programs without a
session, exactly like S3 presigned URLs in production.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import mimetypes
import os
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from bkcore.objstore.base import ObjectNotFound, validate_key, validate_prefix
from bkcore.signed_urls import parse_expiry

_META_DIR = ".meta"
_TMP_DIR = ".tmp"
# A content type ends up in a response header: refuse anything that could split or smuggle one.
_CONTENT_TYPE_RE = re.compile(r"^[\w.+-]+/[\w.+-]+(\s*;\s*[\w.+-]+=[\w.+\"-]+)*$", re.ASCII)
DEFAULT_CONTENT_TYPE = "application/octet-stream"


class LocalObjectStore:
    """``ObjectStore`` over a directory. Blocking file I/O runs in worker threads."""

    def __init__(
        self,
        root: Path,
        signing_secret: str,
        base_url: str,
        default_ttl_s: int = 600,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not signing_secret:
            raise ValueError("LocalObjectStore needs a non-empty URL signing secret")
        self.root = Path(root)
        self.base_url = base_url.rstrip("/")
        self.default_ttl_s = default_ttl_s
        self._secret = signing_secret.encode()
        self._clock = clock  # injectable so tests can expire URLs without sleeping

    def now(self) -> float:
        return self._clock()

    # -- ObjectStore ------------------------------------------------------------------------------

    async def put(self, key: str, data: bytes, content_type: str = DEFAULT_CONTENT_TYPE) -> None:
        validate_key(key)
        if not _CONTENT_TYPE_RE.match(content_type):
            raise ValueError(f"invalid content type {content_type!r}")
        await asyncio.to_thread(self._put_sync, key, data, content_type)

    async def get(self, key: str) -> bytes:
        data, _ = await self.get_with_type(key)
        return data

    async def get_with_type(self, key: str) -> tuple[bytes, str]:
        """The object's bytes and content type; raises ObjectNotFound."""
        validate_key(key)
        return await asyncio.to_thread(self._get_sync, key)

    async def exists(self, key: str) -> bool:
        validate_key(key)
        return await asyncio.to_thread(self._data_path(key).is_file)

    async def delete(self, key: str) -> None:
        validate_key(key)
        await asyncio.to_thread(self._delete_sync, key)

    async def list(self, prefix: str) -> list[str]:
        validate_prefix(prefix)
        return await asyncio.to_thread(self._list_sync, prefix)

    async def signed_url(self, key: str, ttl_s: int | None = None) -> str:
        validate_key(key)
        ttl = self.default_ttl_s if ttl_s is None else ttl_s
        if ttl <= 0:
            raise ValueError("ttl_s must be positive")
        exp = int(self.now()) + ttl
        return f"{self.base_url}/objects/{key}?exp={exp}&sig={self._sign(key, exp)}"

    async def ready(self) -> bool:
        return await asyncio.to_thread(self._ready_sync)

    # -- signatures -------------------------------------------------------------------------------

    def verify_signature(self, key: str, exp: int | str, sig: str, now: float | None = None) -> bool:
        """True when ``sig`` was made by us for this key and expiry, and the expiry is still ahead."""
        try:
            validate_key(key)
        except (ValueError, TypeError):
            return False
        exp_i = parse_expiry(exp)  # the canonical form only: one URL per signature
        if exp_i is None or exp_i <= (self.now() if now is None else now):
            return False
        return hmac.compare_digest(self._sign(key, exp_i), sig)

    def _sign(self, key: str, exp: int) -> str:
        # The newline keeps "key=a1, exp=23" and "key=a, exp=123" from signing the same message.
        mac = hmac.new(self._secret, f"{key}\n{exp}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    # -- blocking helpers (run in threads) --------------------------------------------------------

    def _data_path(self, key: str) -> Path:
        return self.root / key

    def _meta_path(self, key: str) -> Path:
        return self.root / _META_DIR / key

    def _put_sync(self, key: str, data: bytes, content_type: str) -> None:
        # Sidecar first, data last: the data rename is the commit point, so a reader never sees
        # bytes without their type. A crash in between leaves only a harmless orphan sidecar.
        self._atomic_write(self._meta_path(key), content_type.encode())
        self._atomic_write(self._data_path(key), data)

    def _atomic_write(self, dest: Path, data: bytes) -> None:
        tmp_dir = self.root / _TMP_DIR
        tmp_dir.mkdir(parents=True, exist_ok=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = tmp_dir / f"{uuid.uuid4().hex}.part"
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())  # evidence must survive a power cut once put() returned
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)

    def _get_sync(self, key: str) -> tuple[bytes, str]:
        try:
            data = self._data_path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(key) from None
        return data, self._content_type(key)

    def _content_type(self, key: str) -> str:
        try:
            return self._meta_path(key).read_text().strip() or DEFAULT_CONTENT_TYPE
        except OSError:  # written by hand or sidecar lost: fall back to the extension
            return mimetypes.guess_type(key)[0] or DEFAULT_CONTENT_TYPE

    def _delete_sync(self, key: str) -> None:
        for path in (self._data_path(key), self._meta_path(key)):
            if path.is_file():
                path.unlink(missing_ok=True)

    def _list_sync(self, prefix: str) -> list[str]:
        folder = self.root / prefix  # never a dot-folder: keys start with a letter or digit
        keys: list[str] = []
        for dirpath, _, filenames in os.walk(folder):  # a missing folder walks as empty
            rel = Path(dirpath).relative_to(self.root).as_posix()
            keys.extend(f"{rel}/{name}" for name in filenames)
        return sorted(keys)

    def _ready_sync(self) -> bool:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError:
            return False
        return os.access(self.root, os.W_OK)
