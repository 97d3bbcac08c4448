"""Staff watching a kitchen through the gateway are on record in the case-manager's audit chain.

Each live view opened (signed play URLs handed out) writes one ``evidence.access.v1`` to the
outbox; the console refreshes the stills of a camera wall every few seconds, so a snapshot is
written once per user and camera per ``SNAPSHOT_WINDOW_S`` ("watched the stills of this camera
from then"), not per frame. The case-manager chains them (docs/security.md, the audit log).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from bk_gateway.models import Camera, outbox
from bkcore.auth import Principal
from bkcore.db import enqueue_event
from bkcore.evidence_access import TOPIC, access_event

if TYPE_CHECKING:
    from bk_gateway.service import GatewayService

PRODUCER = "stream-gateway"
SNAPSHOT_WINDOW_S = 300.0
_MAX_REMEMBERED = 50_000  # (user, camera) pairs; forgotten all at once beyond, which only re-records


class ViewLog:
    def __init__(self, svc: GatewayService) -> None:
        self._svc = svc
        self._snapshots: dict[tuple[str, str, str], float] = {}

    async def live(self, p: Principal, cam: Camera) -> None:
        await self._record(p, cam, "live view")

    async def snapshot(self, p: Principal, cam: Camera) -> None:
        seen = (p.subject, cam.tenant_id, cam.id)
        now = time.monotonic()
        if now - self._snapshots.get(seen, float("-inf")) < SNAPSHOT_WINDOW_S:
            return
        if len(self._snapshots) >= _MAX_REMEMBERED:
            self._snapshots.clear()
        self._snapshots[seen] = now
        await self._record(p, cam, "camera snapshot")

    async def _record(self, p: Principal, cam: Camera, via: str) -> None:
        event = access_event(
            p,
            producer=PRODUCER,
            via=via,
            object_keys=[f"{cam.tenant_id}/cameras/{cam.id}"],
            at=self._svc.runtime.clock.now(),
        )
        if event is None:  # a service (the public API for parents): not staff
            return
        async with self._svc.db.session() as s:
            await enqueue_event(s, outbox, TOPIC, event)
        self._svc.relay.notify()
