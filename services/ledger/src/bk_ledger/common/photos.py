"""Photos (certificates, invoices, licences) into the object store: checked first, stored all or none.

Checks happen before anything is written, by the platform's one rule for pictures
(``bkcore.images``: type by the bytes, size, pixel cap read from the header, a full decode). If a
later step fails, ``PhotoBatch.rollback`` deletes what was already put, so no orphan objects remain.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime

from bk_ledger.common.columns import new_id
from bkcore.images import CheckedImage
from bkcore.objstore.base import ObjectStore, validate_key


@dataclass
class PhotoBatch:
    """Puts checked photos under ``tenant/ledger/...`` and remembers them, to undo on failure."""

    store: ObjectStore
    tenant_id: str
    site_id: str
    ledger: str
    when: datetime
    keys: list[str] = field(default_factory=list)

    async def put(self, photos: list[CheckedImage]) -> list[str]:
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
