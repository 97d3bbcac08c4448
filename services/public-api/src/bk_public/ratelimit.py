"""Token-bucket rate limits per parent and per client IP (in memory, per replica).

Per-replica buckets are enough here: the ingress spreads clients over replicas, so the real limit
is at most replicas × the configured one, and a abuser still hits a wall.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimited(Exception):
    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"rate limit exceeded; retry in {retry_after_s:.0f}s")
        self.retry_after_s = retry_after_s


class RateLimiter:
    """``per_min`` requests per minute with bursts of up to ``per_min`` at once."""

    def __init__(self, per_min: int, *, clock: Callable[[], float] = time.monotonic, capacity: int = 100_000):
        self.per_min = per_min
        self._rate = per_min / 60.0
        self._clock = clock
        self._capacity = capacity
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def hit(self, key: str, cost: float = 1.0) -> None:
        """Take ``cost`` tokens for ``key`` or raise RateLimited. O(1)."""
        now = self._clock()
        buckets = self._buckets
        b = buckets.get(key)
        if b is None:
            # Least recently used first: a bucket idle for a minute is full again, so forgetting it
            # changes nothing; only more than ``capacity`` keys a minute ever reset a live one.
            while len(buckets) >= self._capacity:
                buckets.popitem(last=False)
            b = buckets[key] = _Bucket(float(self.per_min), now)
        else:
            buckets.move_to_end(key)
            b.tokens = min(float(self.per_min), b.tokens + (now - b.updated) * self._rate)
            b.updated = now
        if b.tokens < cost:
            raise RateLimited(math.ceil((cost - b.tokens) / self._rate))
        b.tokens -= cost
