"""The alarm wall's push channel: every case change fans out to the consoles that may see it.

Each replica feeds its own subscribers from its own cases.v1 consumer, so SSE needs no sticky
sessions beyond the open connection itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from bkcore.auth import Principal


class AlarmHub:
    def __init__(self, *, queue_size: int = 256) -> None:
        self._subs: set[tuple[Principal, asyncio.Queue[dict[str, Any]]]] = set()
        self._queue_size = queue_size
        self._seq = 0

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def publish(self, case: dict[str, Any]) -> None:
        """Offer one case change to every subscriber allowed to see its site."""
        self._seq += 1
        item = {**case, "seq": self._seq}
        for principal, queue in list(self._subs):
            if not principal.can_see_site(case["tenant_id"], case["site_id"], case["org_path"]):
                continue
            if queue.full():  # a stalled client loses its oldest alarm, never blocks the consumer
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(item)

    @contextlib.asynccontextmanager
    async def subscribe(self, principal: Principal) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        entry = (principal, asyncio.Queue[dict[str, Any]](self._queue_size))
        self._subs.add(entry)
        try:
            yield entry[1]
        finally:
            self._subs.discard(entry)


def sse_frame(event: str, data: dict[str, Any], event_id: str | None = None) -> bytes:
    lines = [f"event: {event}"]
    if event_id:
        lines.append(f"id: {event_id}")
    lines.append("data: " + json.dumps(data, ensure_ascii=False, default=str))
    return ("\n".join(lines) + "\n\n").encode()


async def sse_stream(
    hub: AlarmHub, principal: Principal, *, heartbeat_s: float = 15.0, stopping: asyncio.Event | None = None
) -> AsyncIterator[bytes]:
    """Server-sent events: a ``hello``, then one ``case`` per change, comments to keep proxies open."""
    async with hub.subscribe(principal) as queue:
        yield b"retry: 3000\n\n" + sse_frame("hello", {"subscribers": hub.subscribers})
        while stopping is None or not stopping.is_set():
            try:
                async with asyncio.timeout(heartbeat_s):  # not wait_for: see bkcore.tasks.wait_event
                    item = await queue.get()
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            yield sse_frame("case", item, str(item["seq"]))
