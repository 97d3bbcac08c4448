"""Photos (certificates, invoices, licences) into the object store: checked first, stored all or none.

Checks happen before anything is written: the declared type must be an image type we accept, the
bytes must really be that image (magic number + Pillow's structural check), and small enough. If a
later step fails, ``PhotoBatch.rollback`` deletes what was already put, so no orphan objects remain.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field
from datetime import datetime

from fastapi import UploadFile
from PIL import Image, UnidentifiedImageError

from bk_ledger.common.columns import new_id
from bk_ledger.common.errors import field_error
from bkcore.objstore.base import ObjectStore, validate_key

#: accepted format (Pillow's name) → content type and file extension
FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/webp", "webp")}
_MAGIC = ((b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"))


@dataclass(frozen=True)
class CheckedPhoto:
    data: bytes
    content_type: str
    ext: str


def sniff(data: bytes) -> str | None:
    for magic, fmt in _MAGIC:
        if data.startswith(magic):
            return fmt
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


async def check_upload(upload: UploadFile, *, field_name: str, index: int, max_bytes: int) -> CheckedPhoto:
    """Read and verify one upload; a 422 naming the field and index on any problem."""
    loc = ("body", field_name, index)
    data = await upload.read(max_bytes + 1)  # never read more than one byte past the limit
    if len(data) > max_bytes:
        raise field_error(loc, f"photo is larger than {max_bytes} bytes", "too_large")
    if not data:
        raise field_error(loc, "photo is empty", "empty")
    fmt = sniff(data)
    if fmt is None:
        raise field_error(loc, "not an image (accepted: JPEG, PNG, WebP)", "not_image")
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
            if img.format != fmt:
                raise UnidentifiedImageError(f"{img.format} != {fmt}")
    except Exception:  # Pillow raises many types for broken files; all mean "not a valid image"
        raise field_error(loc, "image is corrupt or truncated", "not_image") from None
    content_type, ext = FORMATS[fmt]
    return CheckedPhoto(data, content_type, ext)


@dataclass
class PhotoBatch:
    """Puts checked photos under ``tenant/ledger/...`` and remembers them, to undo on failure."""

    store: ObjectStore
    tenant_id: str
    site_id: str
    ledger: str
    when: datetime
    keys: list[str] = field(default_factory=list)

    async def put(self, photos: list[CheckedPhoto]) -> list[str]:
        out = []
        for p in photos:
            key = validate_key(
                f"{self.tenant_id}/ledger/{self.ledger}/{self.site_id}/{self.when:%Y/%m}/{new_id()}.{p.ext}"
            )
            await self.store.put(key, p.data, p.content_type)
            self.keys.append(key)
            out.append(key)
        return out

    async def rollback(self) -> None:
        for key in self.keys:
            with contextlib.suppress(Exception):  # best effort: the first error is what matters
                await self.store.delete(key)
        self.keys.clear()
