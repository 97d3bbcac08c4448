"""Camera analytics profiles (``CameraProfile``, proto detector.v1): the violation types a detector
judges (违规类型) and what makes a profile usable.

One owner for both facts. The list comes from proto's ``ViolationType`` enum; the checks are the ones
the gateway's registry answers a bad profile with (422) and a detector refuses one with, so the two
can never disagree on what a usable profile is. Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bkproto.detector.v1 import detector_pb2 as pb

_PREFIX = "VIOLATION_TYPE_"

#: Every violation type a detector can raise, as it travels on the wire ("no_chef_hat", "rodent", ...),
#: in the enum's order.
VIOLATION_TYPES: tuple[str, ...] = tuple(
    name.removeprefix(_PREFIX).lower()
    for name, number in sorted(pb.ViolationType.items(), key=lambda item: item[1])
    if number != pb.VIOLATION_TYPE_UNSPECIFIED
)

MINUTES_PER_DAY = 24 * 60


def profile_problems(msg: pb.CameraProfile) -> list[str]:
    """Every reason ``msg`` cannot be used, each starting with the field it concerns, as
    ``rules[2].violation_type: unknown rule 'no_hats' (known: ...)``, none containing "; ", so a list
    of them joined by "; " stays readable. Empty = usable.

    The camera's identity (tenant, site, camera, zone, rules_version) is the sender's to fill and is
    not judged here."""
    problems: list[str] = []
    if msg.timezone:
        try:
            ZoneInfo(msg.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(
                f"timezone: unknown time zone {msg.timezone!r} (an IANA name, e.g. 'Asia/Shanghai')"
            )
    for i, mask in enumerate(msg.masks):
        problems += polygon_problems(mask.xy, f"masks[{i}]")
    first_index: dict[str, int] = {}
    for i, rule in enumerate(msg.rules):
        where = f"rules[{i}]"
        vtype = rule.violation_type
        if vtype not in VIOLATION_TYPES:
            known = ", ".join(VIOLATION_TYPES)
            problems.append(f"{where}.violation_type: unknown rule {vtype!r} (known: {known})")
        elif vtype in first_index:
            problems.append(
                f"{where}.violation_type: {vtype!r} is already configured by "
                f"rules[{first_index[vtype]}] (one rule per violation type)"
            )
        else:
            first_index[vtype] = i
        if not (math.isfinite(rule.min_score) and 0.0 <= rule.min_score <= 1.0):
            problems.append(
                f"{where}.min_score: {rule.min_score:g} is not a score in 0..1 (0 = the model's "
                "default threshold)"
            )
        for j, zone in enumerate(rule.zones):
            problems += polygon_problems(zone.xy, f"{where}.zones[{j}]")
        for j, window in enumerate(rule.schedule):
            problems += window_problems(window, f"{where}.schedule[{j}]")
    return problems


def polygon_problems(xy: Iterable[float], where: str) -> list[str]:
    """A polygon is at least three points (x0, y0, x1, y1, ...) in normalised 0..1 coordinates that
    encloses some area."""
    values = list(xy)
    if len(values) < 6 or len(values) % 2:
        return [f"{where}.xy: a polygon needs at least 3 points as x, y pairs, not {len(values)} numbers"]
    if not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in values):
        return [f"{where}.xy: coordinates are fractions of the frame, 0..1"]
    xs, ys = values[0::2], values[1::2]
    twice_area = sum(xs[k] * ys[k - 1] - xs[k - 1] * ys[k] for k in range(len(xs)))
    if abs(twice_area) < 1e-9:
        return [f"{where}.xy: the polygon encloses no area (its points are on one line)"]
    return []


def window_problems(window: pb.ScheduleWindow, where: str) -> list[str]:
    """A weekly window: weekdays 1 (Monday) .. 7, minutes 0..1440 after local midnight."""
    problems = []
    if bad := [d for d in window.weekdays if not 1 <= d <= 7]:
        problems.append(f"{where}.weekdays: {bad} are not weekdays 1 (Monday) .. 7 (Sunday)")
    for name in ("start_minute", "end_minute"):
        value = getattr(window, name)
        if value > MINUTES_PER_DAY:
            problems.append(f"{where}.{name}: {value} is past midnight (minutes 0..{MINUTES_PER_DAY})")
    return problems
