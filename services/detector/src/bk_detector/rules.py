"""Violation rules (规则): pure functions from one frame's detections to candidate violations.

Candidates are not alarms yet; ``voting`` decides which ones last long enough to be raised.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from bk_detector.detections import Box, Candidate, Detection, centre, expand, intersection, point_in_polygon
from bk_detector.profiles import CameraProfile, Polygon, Rule

#: Person attribute -> the violation raised when it is probably not worn.
ATTRIBUTE_RULES: dict[str, str] = {
    "chef_hat": "no_chef_hat",
    "mask": "no_mask",
    "uniform": "no_uniform",
    "gloves": "no_gloves",
}
#: Objects that are violations by themselves.
OBJECT_RULES: dict[str, str] = {"rodent": "rodent", "trash_bin_open": "trash_bin_open"}
#: Hand-held objects that are violations when a person holds them; the person carries the violation.
HELD_RULES: dict[str, str] = {"phone": "phone_use", "cigarette": "smoking"}
#: Held-object rules that count only in someone's hand (smoking counts without a visible smoker).
HOLDER_NEEDED: frozenset[str] = frozenset({"phone_use"})
#: Objects that are violations when nobody attends them long enough (the time state is ``firewatch``'s).
UNATTENDED_RULES: dict[str, str] = {"flame": "fire_unattended"}
WORN_BELOW = 0.5  # P(worn) under this counts as not worn
HELD_MARGIN = 0.15  # a held object overlaps the person's box grown by this share
ATTENDED_MARGIN = 1.0  # a person within one flame-box (of its own size) counts as attending it


def in_any(box: Box, polygons: Iterable[Polygon]) -> bool:
    x, y = centre(box)
    return any(point_in_polygon(x, y, p) for p in polygons)


def apply_masks(detections: Sequence[Detection], masks: Sequence[Polygon]) -> list[Detection]:
    """Drop detections whose centre lies inside a mask (ignored regions: a TV, a window, a poster)."""
    if not masks:
        return list(detections)
    return [d for d in detections if not in_any(d.box, masks)]


def holder(obj: Detection, persons: Sequence[Detection]) -> Detection | None:
    """The person whose (slightly grown) box overlaps ``obj`` most, if any."""
    best, best_overlap = None, 0.0
    for p in persons:
        overlap = intersection(obj.box, expand(p.box, HELD_MARGIN))
        if overlap > best_overlap:
            best, best_overlap = p, overlap
    return best


def is_attended(flame: Detection, persons: Sequence[Detection], min_score: float) -> bool:
    near = expand(flame.box, ATTENDED_MARGIN)
    return any(p.score >= min_score and intersection(p.box, near) > 0 for p in persons)


def evaluate(
    detections: Sequence[Detection],
    profile: CameraProfile,
    when: datetime,
    *,
    default_min_score: float,
    unattended_flames: frozenset[int] = frozenset(),
) -> list[Candidate]:
    """Candidate violations in one frame under ``profile`` at ``when`` (aware datetime).

    ``unattended_flames`` are the track ids of flames nobody has attended for long enough (the
    time state lives in ``firewatch``, not here).
    """
    local: datetime | None = None  # the camera's local time: worked out only for a scheduled rule
    thresholds: dict[str, float | None] = {}  # per violation type, for this frame

    def active(rule: Rule) -> bool:
        nonlocal local
        if not rule.schedule:
            return rule.enabled
        if local is None:
            local = profile.local_time(when)
        return rule.active_at(local)

    def threshold(violation_type: str) -> float | None:
        if violation_type in thresholds:
            return thresholds[violation_type]
        rule = profile.rule(violation_type)
        thr = None if rule is None or not active(rule) else rule.min_score or default_min_score
        thresholds[violation_type] = thr
        return thr

    def zoned(violation_type: str, box: Box) -> bool:
        rule = profile.rule(violation_type)
        return rule is not None and (not rule.zones or in_any(box, rule.zones))

    out: list[Candidate] = []
    persons = [d for d in detections if d.label == "person"]
    for person in persons:
        for attribute, violation in ATTRIBUTE_RULES.items():
            thr = threshold(violation)
            worn = person.attributes.get(attribute)
            if thr is None or worn is None or person.score < thr or worn >= WORN_BELOW:
                continue
            if zoned(violation, person.box):
                out.append(Candidate(violation, person.track_id, 1.0 - worn, person.box))
    for det in detections:
        if det.label in OBJECT_RULES:
            violation = OBJECT_RULES[det.label]
            thr = threshold(violation)
            if thr is not None and det.score >= thr and zoned(violation, det.box):
                out.append(Candidate(violation, det.track_id, det.score, det.box))
        elif det.label in HELD_RULES:
            violation = HELD_RULES[det.label]
            thr = threshold(violation)
            if thr is None or det.score < thr:
                continue
            person = holder(det, persons)
            # Smoking is a violation with or without a visible smoker; a phone only in someone's hand.
            if person is None and violation in HOLDER_NEEDED:
                continue
            carrier = person or det
            if zoned(violation, carrier.box):
                out.append(Candidate(violation, carrier.track_id, det.score, carrier.box))
        elif det.label in UNATTENDED_RULES and det.track_id in unattended_flames:
            violation = UNATTENDED_RULES[det.label]
            thr = threshold(violation)
            if thr is not None and det.score >= thr and zoned(violation, det.box):
                out.append(Candidate(violation, det.track_id, det.score, det.box))
    return _dedupe(out)


def needs(violation_type: str) -> tuple[frozenset[str], frozenset[str]]:
    """What a model must be able to report for ``violation_type`` ever to be raised: (labels, person
    attributes). Read from the tables above, so a new rule row is a new need; unknown: both empty."""
    person = frozenset({"person"})
    for attribute, violation in ATTRIBUTE_RULES.items():
        if violation == violation_type:
            return person, frozenset({attribute})
    for label, violation in OBJECT_RULES.items():
        if violation == violation_type:
            return frozenset({label}), frozenset()
    for label, violation in HELD_RULES.items():
        if violation == violation_type:
            return frozenset({label}) | (person if violation in HOLDER_NEEDED else frozenset()), frozenset()
    for label, violation in UNATTENDED_RULES.items():
        if violation == violation_type:  # attended = a person near it: without persons, never
            return frozenset({label}) | person, frozenset()
    return frozenset(), frozenset()


def _dedupe(candidates: list[Candidate]) -> list[Candidate]:
    """One candidate per (type, track): two phones in one hand are one phone_use."""
    best: dict[tuple[str, int], Candidate] = {}
    for c in candidates:
        key = (c.violation_type, c.track_id)
        if key not in best or c.score > best[key].score:
            best[key] = c
    return list(best.values())
