"""The alarm wall's push channel: every case change fans out to the consoles that may see it.

Each replica feeds its own subscribers from its own cases.v1 consumer, so SSE needs no sticky
sessions beyond the open connection itself.

A stream outlives the request that opened it, so it asks the directory again every ``recheck_s``:
a deactivated user's stream ends (an ``ended`` event, then the connection closes), and a user moved
to another unit or given other sites sees from then on what they may see now.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import HTTPException

from bkcore.auth import Principal


class AlarmHub:
    def __init__(self, *, queue_size: int = 256) -> None:
        self._subs: dict[asyncio.Queue[dict[str, Any]], Principal] = {}
        self._queue_size = queue_size
        self._seq = 0

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def publish(self, case: dict[str, Any]) -> None:
        """Offer one case change to every subscriber allowed to see its site."""
        self._seq += 1
        item = {**case, "seq": self._seq}
        for queue, principal in list(self._subs.items()):
            if not principal.can_see_site(case["tenant_id"], case["site_id"], case["org_path"]):
                continue
            if queue.full():  # a stalled client loses its oldest alarm, never blocks the consumer
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(item)

    @contextlib.asynccontextmanager
    async def subscribe(self, principal: Principal) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        queue = asyncio.Queue[dict[str, Any]](self._queue_size)
        self._subs[queue] = principal
        try:
            yield queue
        finally:
            self._subs.pop(queue, None)

    def rescope(self, queue: asyncio.Queue[dict[str, Any]], principal: Principal) -> None:
        """What a subscriber may see changed (a move, other sites): filter by ``principal`` from now."""
        if queue in self._subs:
            self._subs[queue] = principal


def sse_frame(event: str, data: dict[str, Any], event_id: str | None = None) -> bytes:
    lines = [f"event: {event}"]
    if event_id:
        lines.append(f"id: {event_id}")
    lines.append("data: " + json.dumps(data, ensure_ascii=False, default=str))
    return ("\n".join(lines) + "\n\n").encode()


async def sse_stream(
    hub: AlarmHub,
    principal: Principal,
    *,
    heartbeat_s: float = 15.0,
    stopping: asyncio.Event | None = None,
    recheck: Callable[[Principal], Awaitable[Principal]] | None = None,
    recheck_s: float = 15.0,
    on_case: Callable[[dict[str, Any]], None] | None = None,
) -> AsyncIterator[bytes]:
    """Server-sent events: a ``hello``, then one ``case`` per change, comments to keep proxies open.

    ``recheck(principal)``: the caller as the directory admits them now (raises a 401 when it no
    longer does); run every ``recheck_s`` while the stream lasts. ``on_case(item)``: each case
    about to be sent (the console records the evidence links it carries, bk_public.evidence_log).
    """
    heartbeat_s = min(heartbeat_s, recheck_s) if recheck is not None else heartbeat_s
    async with hub.subscribe(principal) as queue:
        checked = time.monotonic()
        yield b"retry: 3000\n\n" + sse_frame("hello", {"subscribers": hub.subscribers})
        while stopping is None or not stopping.is_set():
            if recheck is not None and time.monotonic() - checked >= recheck_s:
                checked = time.monotonic()
                try:
                    principal = await recheck(principal)
                except HTTPException as exc:
                    # The browser's EventSource reconnects on a plain close: say why, and say it is final.
                    yield b"retry: 600000\n\n" + sse_frame("ended", {"reason": exc.detail})
                    return
                hub.rescope(queue, principal)
            try:
                async with asyncio.timeout(heartbeat_s):  # not wait_for: see bkcore.tasks.wait_event
                    item = await queue.get()
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            if on_case is not None:
                on_case(item)
            yield sse_frame("case", item, str(item["seq"]))
