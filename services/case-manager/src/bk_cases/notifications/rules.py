"""Pure notification rules: cooldown versus digest, never silence for urgent (Class I) alarms."""

from __future__ import annotations

from collections.abc import Collection
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


#: Every phone channel, in the order a person's default falls back through them.
PHONE_CHANNELS = ("wechat", "sms", "robot")
#: A class the person did not choose for: WeChat (free, seconds) or else SMS, and the duty group's
#: robot; Class III is routine supervision, counted in the inbox and the statistics, not paged.
DEFAULT_CHOICE: dict[str, tuple[str, ...]] = {"II": ("wechat|sms", "robot"), "III": ()}


def channels_for(
    *, risk_class: str, reachable: frozenset[str], choice: dict[str, list[str]] | None = None
) -> list[str]:
    """The phone channels one message goes out on (the in-app inbox always gets it too).

    ``risk_class``: "I", "II", "III" ("" for messages without a case: a digest counts as II).
    ``reachable``: the channels this person has an address for (openid, phone, duty group).
    ``choice``: their own per-class choice; a Class I alarm ignores it and goes on **every**
    reachable channel at once (双推送: it must not wait on one channel failing first).
    """
    cls = risk_class if risk_class in ("I", "II", "III") else "II"
    if cls == "I":
        return [c for c in PHONE_CHANNELS if c in reachable]
    chosen = (choice or {}).get(cls)
    if chosen is not None:
        return [c for c in PHONE_CHANNELS if c in chosen and c in reachable]
    picked: list[str] = []
    for option in DEFAULT_CHOICE[cls]:
        first = next((c for c in option.split("|") if c in reachable), None)  # "a|b": a, else b
        if first is not None:
            picked.append(first)
    return picked


def check_choice(choice: dict[str, list[str]]) -> dict[str, list[str]]:
    """A person's per-class choice, validated (ValueError names what is wrong)."""
    for cls, channels in choice.items():
        if cls not in ("II", "III"):
            raise ValueError(f"risk class {cls!r}: only II and III can be chosen (Class I goes everywhere)")
        unknown = sorted(set(channels) - set(PHONE_CHANNELS))
        if unknown:
            raise ValueError(f"class {cls}: unknown channel(s) {unknown} (known: {list(PHONE_CHANNELS)})")
    return {cls: [c for c in PHONE_CHANNELS if c in channels] for cls, channels in choice.items()}


def check_robot(name: str, configured: Collection[str]) -> str:
    """A person's duty-group robot: "" (none) or a name configured in ``BK_NOTIFY_ROBOTS``."""
    if name and name not in configured:
        known = ", ".join(sorted(configured)) or "none configured"
        raise ValueError(f"值班群机器人未配置 · robot {name!r} is not configured (BK_NOTIFY_ROBOTS: {known})")
    return name


def retry_delay_s(attempt: int, *, base_s: float, cap_s: float, jitter: float) -> float:
    """The wait after a failed ``attempt``: exponential, "equal jitter" (``jitter`` in [0, 1])."""
    d = backoff_s(attempt, base_s=base_s, cap_s=cap_s)
    return d / 2 + jitter * d / 2
