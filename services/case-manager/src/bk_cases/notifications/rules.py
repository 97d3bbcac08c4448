"""Pure notification rules: cooldown versus digest, never silence for urgent (Class I) alarms."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

MAX_CASES_IN_DIGEST = 20


class Decision(StrEnum):
    SEND = "send"
    HOLD = "hold"  # counted into the next digest


def decide(*, urgent: bool, last_sent_at: datetime | None, now: datetime, cooldown_s: int) -> Decision:
    """Send at once when urgent or when the recipient has been quiet for the cooldown; else hold."""
    if urgent or last_sent_at is None or now - last_sent_at >= timedelta(seconds=cooldown_s):
        return Decision.SEND
    return Decision.HOLD


def digest_due(*, held_count: int, last_sent_at: datetime | None, now: datetime, cooldown_s: int) -> bool:
    """A held batch goes out once the cooldown since the last message has passed."""
    return held_count > 0 and (last_sent_at is None or now - last_sent_at >= timedelta(seconds=cooldown_s))


def backoff_s(attempt: int, *, base_s: float = 0.5, cap_s: float = 30.0) -> float:
    """Exponential backoff for webhook retries: 0.5, 1, 2, 4 ... capped."""
    return float(min(cap_s, base_s * 2 ** (attempt - 1)))
