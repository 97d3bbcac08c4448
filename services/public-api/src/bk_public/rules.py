"""Pure rules of the public window: no I/O, tested on plain data."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from datetime import datetime, time
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo


class Score(StrEnum):
    """A parent's smiley (满意 / 一般 / 不满意)."""

    SATISFIED = "satisfied"
    NEUTRAL = "neutral"
    DISSATISFIED = "dissatisfied"


class ComplaintCategory(StrEnum):
    HYGIENE = "hygiene"
    FOREIGN_OBJECT = "foreign_object"
    ILLNESS = "illness"
    ATTITUDE = "attitude"
    OTHER = "other"


_OPENING_RE = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
# Invite codes are read aloud and typed on phones: no 0/O, 1/I/L.
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def parse_opening(opening: str) -> tuple[time, time] | None:
    """``"06:30-19:30"`` → (06:30, 19:30); None when absent or malformed (treated as closed)."""
    m = _OPENING_RE.match(opening.strip()) if opening else None
    if not m:
        return None
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59:
        return None
    return time(h1, m1), (time(23, 59, 59) if h2 == 24 else time(h2, m2))


def is_open(opening: str, now: datetime, tz: str) -> bool:
    """Whether a site is in its opening hours at ``now`` (aware) in the local zone ``tz``.

    A window that wraps midnight ("22:00-02:00") is open on both sides of it.
    """
    window = parse_opening(opening)
    if window is None:
        return False
    start, end = window
    local = now.astimezone(ZoneInfo(tz)).time()
    if start <= end:
        return start <= local < end
    return local >= start or local < end


def local_day(now: datetime, tz: str) -> str:
    """The local calendar day, the unit of "one rating per parent per site per day"."""
    return now.astimezone(ZoneInfo(tz)).date().isoformat()


def new_invite_code(length: int = 8) -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(length))


def normalise_code(code: str) -> str:
    return re.sub(r"[\s-]", "", code).upper()


# Keys that name or describe a person; never leave the building in a public payload.
_PERSONAL_KEYS = frozenset(
    {
        "staff",
        "staff_id",
        "staff_name",
        "name",
        "names",
        "checker",
        "checker_name",
        "operator",
        "operator_name",
        "tester",
        "tester_name",
        "taker",
        "taker_name",
        "leader",
        "leader_name",
        "temperature",
        "symptoms",
        "phone",
        "id_number",
        "health_certificate",
        "certificate_no",
        "photo",
        "photo_key",
        "photo_keys",
        "created_by",
        "recorded_by",
        "user_id",
        "actor_id",
    }
)


def strip_personal(value: Any) -> Any:
    """Drop personal fields (names, health data) at every depth of a ledger summary.

    The ledger's public summary should already be clean; this is the second lock on the door.
    """
    if isinstance(value, Mapping):
        return {k: strip_personal(v) for k, v in value.items() if str(k).lower() not in _PERSONAL_KEYS}
    if isinstance(value, list | tuple):
        return [strip_personal(v) for v in value]
    return value
