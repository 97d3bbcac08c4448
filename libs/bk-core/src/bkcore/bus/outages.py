"""Which consumer partitions are paused by an outage: their backoff, the metric and the two log lines.

Shared by both adapters (the policy in ``bkcore.bus.base`` reports failures and recoveries here; the
adapter asks how long to wait before it hands the same message over again). An outage is logged once
when a consumer group first pauses a topic, with its cause, and once when its last partition
recovers, with how long it lasted — not once per retry, which would flood the logs for a long outage.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from bkcore.bus.metrics import CONSUMER_OUTAGE, OUTAGE_RETRIES

log = logging.getLogger("bkcore.bus")


def backoff_s(retry: int, *, base_s: float, cap_s: float, jitter: float) -> float:
    """Seconds before retry number ``retry`` (1, 2, …): doubling from ``base_s``, never above ``cap_s``;
    ``jitter`` in [0, 1) spreads replicas that failed together by up to ±10 %, so a database that comes
    back is not hit by every consumer in the same millisecond."""
    if retry < 1:
        raise ValueError("retry counts from 1")
    delay = min(base_s * 2 ** min(retry - 1, 30), cap_s)
    return delay * (0.9 + 0.2 * jitter)


@dataclass(frozen=True, slots=True)
class OutageInfo:
    """One consumer group's pause on one topic, as /readyz or an operator would show it."""

    topic: str
    group: str
    partitions: tuple[int, ...]
    since: datetime
    cause: str
    retries: int


@dataclass(slots=True)
class _Pause:
    started: float  # monotonic
    since: datetime
    cause: str
    retries: int
    partitions: dict[int, int]  # partition -> failed tries in a row


class Outages:
    """Paused (topic, group) pairs of one bus; see the module docstring."""

    def __init__(
        self,
        *,
        backoff_s: float = 0.5,
        backoff_max_s: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if not 0 < backoff_s <= backoff_max_s:
            raise ValueError("need 0 < backoff_s <= backoff_max_s")
        self._base, self._cap = backoff_s, backoff_max_s
        self._monotonic, self._jitter = monotonic, jitter
        self._paused: dict[tuple[str, str], _Pause] = {}

    def failed(self, topic: str, group: str, partition: int, cause: BaseException) -> None:
        """A handler run on ``partition`` failed because of an outage (``cause``)."""
        pause = self._paused.get((topic, group))
        if pause is None:
            pause = self._paused[(topic, group)] = _Pause(
                self._monotonic(), datetime.now(UTC), _describe(cause), 0, {}
            )
            CONSUMER_OUTAGE.labels(topic, group).set(1)
            log.error(
                "outage: consumer group %s pauses %s and retries without committing: %s",
                group,
                topic,
                pause.cause,
                extra={"topic": topic, "group": group, "partition": partition},
            )
        pause.retries += 1
        pause.partitions[partition] = pause.partitions.get(partition, 0) + 1
        OUTAGE_RETRIES.labels(topic, group).inc()

    def wait_s(self, topic: str, group: str, partition: int) -> float:
        """How long to keep ``partition`` paused before handing its message over again."""
        pause = self._paused.get((topic, group))
        tries = pause.partitions.get(partition, 0) if pause else 0
        return backoff_s(max(tries, 1), base_s=self._base, cap_s=self._cap, jitter=self._jitter())

    def recovered(self, topic: str, group: str, partition: int) -> None:
        """A handler run on ``partition`` got through (or failed for reasons of its own message)."""
        self._drop(topic, group, partition, moved=False)

    def forget(self, topic: str, group: str, partition: int) -> None:
        """``partition`` is no longer consumed here (revoked, or the bus stops): stop counting it."""
        self._drop(topic, group, partition, moved=True)

    def _drop(self, topic: str, group: str, partition: int, *, moved: bool) -> None:
        pause = self._paused.get((topic, group))
        if pause is None or pause.partitions.pop(partition, None) is None or pause.partitions:
            return
        del self._paused[(topic, group)]
        CONSUMER_OUTAGE.labels(topic, group).set(0)
        how = "stopped consuming it here" if moved else "resumed"
        log.warning(
            "outage over: consumer group %s %s %s after %.1f s and %d retries (cause was: %s)",
            group,
            how,
            topic,
            self._monotonic() - pause.started,
            pause.retries,
            pause.cause,
            extra={"topic": topic, "group": group},
        )

    def current(self) -> list[OutageInfo]:
        return [
            OutageInfo(topic, group, tuple(sorted(p.partitions)), p.since, p.cause, p.retries)
            for (topic, group), p in sorted(self._paused.items())
        ]


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]
