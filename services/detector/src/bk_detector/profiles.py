"""Camera analytics profiles (zones, masks, thresholds, schedules) as plain data.

The gateway sends ``CameraProfile`` messages; rules work on these frozen dataclasses so they stay
pure and testable without protobuf.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bkcore.profiles import VIOLATION_TYPES, profile_problems
from bkproto.detector.v1 import detector_pb2 as pb

Polygon = tuple[float, ...]  # flat normalised x0, y0, x1, y1, ...


@dataclass(frozen=True, slots=True)
class ScheduleWindow:
    weekdays: frozenset[int] = frozenset()  # 1 = Monday .. 7 = Sunday; empty = every day
    start_minute: int = 0  # inclusive, local time
    end_minute: int = 24 * 60  # exclusive; < start means the window crosses midnight

    def contains(self, local: datetime) -> bool:
        minute = local.hour * 60 + local.minute
        start, end = self.start_minute, self.end_minute
        if start == end:  # a zero-length window would be a typo for "all day"
            return self._day_ok(local)
        if start < end:
            return start <= minute < end and self._day_ok(local)
        # Across midnight: the late part belongs to today's window, the early part to yesterday's.
        if minute >= start:
            return self._day_ok(local)
        return minute < end and self._day_ok(local - timedelta(days=1))

    def _day_ok(self, local: datetime) -> bool:
        return not self.weekdays or local.isoweekday() in self.weekdays


@dataclass(frozen=True, slots=True)
class Rule:
    violation_type: str
    enabled: bool = True
    min_score: float = 0.0  # 0 = the service default
    zones: tuple[Polygon, ...] = ()  # empty = whole frame
    schedule: tuple[ScheduleWindow, ...] = ()  # empty = always

    def active_at(self, local: datetime) -> bool:
        return self.enabled and (not self.schedule or any(w.contains(local) for w in self.schedule))


@dataclass(frozen=True, slots=True)
class CameraProfile:
    """How one camera is judged. With no rules listed, every violation type runs with defaults;
    once rules are listed, only those listed (and enabled) run, because an operator who configured
    a storage-room camera for ``rodent`` does not expect hat alarms from it."""

    tenant_id: str
    camera_id: str
    site_id: str = ""
    zone: str = ""
    rules_version: int = 0
    masks: tuple[Polygon, ...] = ()
    rules: tuple[Rule, ...] = ()
    timezone: str = "UTC"
    _by_type: dict[str, Rule] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_type.update({r.violation_type: r for r in self.rules})

    def rule(self, violation_type: str) -> Rule | None:
        if not self.rules:
            default = _DEFAULT_RULES.get(violation_type)
            return default if default is not None else Rule(violation_type)
        return self._by_type.get(violation_type)

    def local_time(self, when: datetime) -> datetime:
        try:
            return when.astimezone(ZoneInfo(self.timezone or "UTC"))
        except (ZoneInfoNotFoundError, ValueError):
            return when.astimezone(ZoneInfo("UTC"))


#: Rules are frozen: one default per violation type serves every camera without listed rules.
_DEFAULT_RULES: dict[str, Rule] = {t: Rule(t) for t in VIOLATION_TYPES}


def default_profile(tenant_id: str, camera_id: str, site_id: str = "") -> CameraProfile:
    return CameraProfile(tenant_id=tenant_id, camera_id=camera_id, site_id=site_id)


#: Every rule listed, none enabled: a camera judged by no rule at all.
_NO_RULES: tuple[Rule, ...] = tuple(Rule(t, enabled=False) for t in VIOLATION_TYPES)


def held_profile(refused: pb.CameraProfile) -> CameraProfile:
    """What a camera whose profile was refused, with no good profile before it, is judged by: no rule.
    Not the default (every rule on, no mask): that would raise alarms from the regions its operator
    masked and for rules they switched off. The refusal itself is reported (a camera alarm)."""
    return CameraProfile(
        tenant_id=refused.tenant_id,
        camera_id=refused.camera_id,
        site_id=refused.site_id,
        zone=refused.zone,
        rules_version=0,
        rules=_NO_RULES,
    )


def profile_from_proto(msg: pb.CameraProfile) -> CameraProfile:
    return CameraProfile(
        tenant_id=msg.tenant_id,
        camera_id=msg.camera_id,
        site_id=msg.site_id,
        zone=msg.zone,
        rules_version=msg.rules_version,
        timezone=msg.timezone or "UTC",
        masks=tuple(_poly(p) for p in msg.masks if len(p.xy) >= 6),
        rules=tuple(
            Rule(
                violation_type=r.violation_type,
                enabled=r.enabled,
                min_score=round(r.min_score, 4),
                zones=tuple(_poly(p) for p in r.zones if len(p.xy) >= 6),
                schedule=tuple(
                    ScheduleWindow(frozenset(w.weekdays), w.start_minute, w.end_minute) for w in r.schedule
                ),
            )
            for r in msg.rules
        ),
    )


def _poly(p: pb.Polygon) -> Polygon:
    # Proto floats are float32: round so 0.7 on the wire is 0.7 here, not 0.699999988.
    return tuple(round(v, 6) for v in p.xy)


def profile_problem(msg: pb.CameraProfile) -> str | None:
    """Why a profile cannot be used, or None. Bad profiles are refused whole, never half-applied; the
    checks are bk-core's, the ones the gateway's registry already applied at its API."""
    if not msg.tenant_id or not msg.camera_id:
        return "profile without tenant_id/camera_id"
    problems = profile_problems(msg)
    return "; ".join(problems) if problems else None
