"""The bounded hand-off between pull workers (threads) and detector streams (asyncio).

Pushing never blocks a pull loop: when detectors are slow or gone, the oldest frames are dropped —
a fresh frame is worth more to food safety than a stale one — and every drop is counted.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import Counter, Gauge

from bk_gateway.spec import CameraKey

FRAMES_DROPPED = Counter(
    "bk_gateway_frames_dropped_total", "frames dropped before a detector took them", ["tenant_id", "reason"]
)
QUEUE_DEPTH = Gauge("bk_gateway_frame_queue_depth", "frames waiting for a detector")


@dataclass(frozen=True, slots=True)
class FrameItem:
    frame_id: str
    tenant_id: str
    site_id: str
    camera_id: str
    captured_at: datetime
    jpeg: bytes
    rules_version: int

    @property
    def key(self) -> CameraKey:
        return CameraKey(self.tenant_id, self.camera_id)


class FrameQueue:
    def __init__(self, maxsize: int) -> None:
        self._items: deque[FrameItem] = deque()
        self._maxsize = maxsize
        self._lock = threading.Lock()
        self.dropped = 0

    def push(self, item: FrameItem) -> None:
        dropped: FrameItem | None = None
        with self._lock:
            if len(self._items) >= self._maxsize:
                dropped = self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            depth = len(self._items)
        QUEUE_DEPTH.set(depth)
        if dropped is not None:
            FRAMES_DROPPED.labels(dropped.tenant_id, "queue_full").inc()

    def take(self, n: int) -> list[FrameItem]:
        """Up to ``n`` frames, oldest first, without waiting."""
        with self._lock:
            out = [self._items.popleft() for _ in range(min(n, len(self._items)))]
            depth = len(self._items)
        QUEUE_DEPTH.set(depth)
        return out

    def take_matching(self, n: int, wanted: Callable[[FrameItem], bool]) -> list[FrameItem]:
        """Up to ``n`` frames for which ``wanted`` is true, oldest first, without waiting; the
        others keep their place (detector affinity: each stream takes only its own cameras)."""
        out: list[FrameItem] = []
        with self._lock:
            if not self._items:
                return out
            keep: deque[FrameItem] = deque()
            for it in self._items:
                if len(out) < n and wanted(it):
                    out.append(it)
                else:
                    keep.append(it)
            self._items = keep
            depth = len(keep)
        QUEUE_DEPTH.set(depth)
        return out

    def __len__(self) -> int:
        return len(self._items)
