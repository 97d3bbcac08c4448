"""When a held signal is tried again, and when it is given up on (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class HoldPolicy:
    """Retry every ``retry_s`` (doubling up to ``retry_max_s``); dead-letter after ``hold_s``."""

    retry_s: float
    retry_max_s: float
    hold_s: float

    def next_try(self, now: datetime, attempts: int) -> datetime:
        delay = min(self.retry_s * (2 ** max(0, attempts - 1)), self.retry_max_s)
        return now + timedelta(seconds=delay)

    def expired(self, held_at: datetime, now: datetime) -> bool:
        return now - held_at >= timedelta(seconds=self.hold_s)
