"""The object-store contract. Keys always start with the tenant id (tenancy everywhere)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Protocol

# "=": Hive-style partitions (``date=2026-12-03``) in the warehouse export (bkcore.warehouse).
_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=\-/]{0,1023}$")


class ObjectNotFound(KeyError):
    """No object under that key."""


def validate_key(key: str) -> str:
    """Reject keys that could escape a directory or confuse a URL."""
    if not _KEY_RE.match(key) or ".." in key or "//" in key or key.endswith("/"):
        raise ValueError(f"invalid object key {key!r}")
    return key


def validate_prefix(prefix: str) -> str:
    """A folder to list: a valid key path ending in "/"."""
    if not prefix.endswith("/") or not _KEY_RE.match(prefix[:-1]) or ".." in prefix or "//" in prefix:
        raise ValueError(f"invalid object prefix {prefix!r}")
    return prefix


def evidence_key(tenant_id: str, camera_id: str, when: datetime, name: str) -> str:
    """tenant/evidence/YYYY/MM/DD/camera/name — what the detector writes snapshots under."""
    return validate_key(f"{tenant_id}/evidence/{when:%Y/%m/%d}/{camera_id}/{name}")


class ObjectStore(Protocol):
    async def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None: ...

    async def get(self, key: str) -> bytes:
        """The object's bytes; raises ObjectNotFound."""

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> None: ...

    async def list(self, prefix: str) -> list[str]:
        """Every key under the folder ``prefix`` (ending in "/"), sorted; a missing folder is empty."""

    async def signed_url(self, key: str, ttl_s: int | None = None) -> str:
        """A URL that serves the object to anyone holding it, until it expires."""

    async def ready(self) -> bool: ...
