"""A small TTL cache for public reads: one process, bounded, no external server."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

from fastapi.encoders import jsonable_encoder


class TTLCache:
    """Values expire after ``ttl_s``; one in-flight load per key (a burst of misses calls once)."""

    def __init__(self, ttl_s: float, *, capacity: int = 10_000, clock: Callable[[], float] = time.monotonic):
        self.ttl_s = ttl_s
        self._capacity = capacity
        self._clock = clock
        self._items: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._loading: dict[Hashable, asyncio.Future[Any]] = {}
        self.hits = 0
        self.misses = 0

    def peek(self, key: Hashable) -> Any:
        """The fresh value of ``key`` (counted as a hit), or None without loading anything."""
        item = self._items.get(key)
        if item is not None and item[0] > self._clock():
            self.hits += 1
            return item[1]
        return None

    async def get_or_load(self, key: Hashable, load: Callable[[], Awaitable[Any]]) -> Any:
        now = self._clock()
        item = self._items.get(key)
        if item is not None and item[0] > now:
            self.hits += 1
            return item[1]
        self.misses += 1
        if key in self._loading:
            return await asyncio.shield(self._loading[key])
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._loading[key] = fut
        try:
            value = await load()
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # mark retrieved: waiters re-raise it, nobody else must
            raise
        finally:
            self._loading.pop(key, None)
        fut.set_result(value)
        if self.ttl_s > 0:
            self._items[key] = (now + self.ttl_s, value)
            self._items.move_to_end(key)
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)
        return value

    def invalidate(self, prefix: tuple[Any, ...] = ()) -> None:
        """Drop every key that is a tuple starting with ``prefix`` (all keys when empty)."""
        for key in [k for k in self._items if isinstance(k, tuple) and k[: len(prefix)] == prefix]:
            del self._items[key]


@dataclass(frozen=True, slots=True)
class JsonBody:
    """A public read serialised once: the bytes every cache hit sends, and their ETag."""

    body: bytes
    etag: str

    @classmethod
    def of(cls, value: Any) -> JsonBody:
        body = json.dumps(
            jsonable_encoder(value), ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode()
        return cls(body, '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"')

    def matches(self, if_none_match: str | None) -> bool:
        """Whether the client's ``If-None-Match`` already names this body (weak comparison)."""
        if not if_none_match:
            return False
        if if_none_match.strip() == "*":
            return True
        return any(t.strip().removeprefix("W/") == self.etag for t in if_none_match.split(","))
