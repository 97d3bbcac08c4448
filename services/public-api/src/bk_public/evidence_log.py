"""Staff given evidence here are on record in the case-manager's audit chain (``evidence.access.v1``).

The console's routes hand staff signed links to snapshots and photos from this service's read
model; the audit log is the case-manager's, so each such answer writes one event to the outbox
before the links leave, and the case-manager chains it (``bk_cases.audit.consumers``). The alarm
stream sends a link with every case it pushes: those are gathered per stream and written every
``STREAM_FLUSH_S`` and when the stream ends (``StreamAccess``), not one event per alarm.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import anyio

from bk_public.context import Context
from bk_public.models import outbox
from bkcore.auth import Principal
from bkcore.db import enqueue_event
from bkcore.evidence_access import TOPIC, access_event

#: How long a stream's links may wait before they are on record (a crash loses at most this much).
STREAM_FLUSH_S = 30.0


async def record_access(
    ctx: Context, p: Principal, *, via: str, object_keys: Sequence[str], case_ids: Sequence[str] = ()
) -> None:
    """Write that ``p`` was given links to ``object_keys`` (nothing when none, or not staff)."""
    event = access_event(
        p,
        producer="public-api",
        via=via,
        object_keys=object_keys,
        case_ids=case_ids,
        at=ctx.runtime.clock.now(),
    )
    if event is None:
        return
    async with ctx.db.session() as s:
        await enqueue_event(s, outbox, TOPIC, event)
    ctx.relay.notify()


class StreamAccess:
    """The evidence links one alarm stream has sent, written as one event per ``STREAM_FLUSH_S``."""

    def __init__(self, ctx: Context, p: Principal, *, via: str, flush_s: float = STREAM_FLUSH_S) -> None:
        self._ctx, self._p, self._via, self._flush_s = ctx, p, via, flush_s
        self._keys: dict[str, str] = {}  # object key -> case id, in the order sent
        self._since = time.monotonic()

    def add(self, item: dict[str, Any]) -> None:
        """``sse_stream``'s ``on_case``: note the case's snapshot when a link to it goes out."""
        if item.get("snapshot_url") and item.get("snapshot_key"):
            self._keys.setdefault(str(item["snapshot_key"]), str(item.get("case_id", "")))

    async def flush_due(self) -> None:
        if self._keys and time.monotonic() - self._since >= self._flush_s:
            await self.flush()

    async def flush(self) -> None:
        """Write what was sent (also while the stream is being cancelled: the links are out)."""
        self._since = time.monotonic()
        if not self._keys:
            return
        keys, self._keys = self._keys, {}
        with anyio.CancelScope(shield=True):
            await record_access(
                self._ctx, self._p, via=self._via, object_keys=list(keys), case_ids=list(keys.values())
            )
