"""Rules are pure: detections + camera profile + time -> candidate violations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bk_detector.detections import Detection
from bk_detector.firewatch import FireWatch
from bk_detector.profiles import CameraProfile, Rule, ScheduleWindow, profile_from_proto, profile_problem
from bk_detector.rules import apply_masks, evaluate
from bkproto.detector.v1 import detector_pb2 as pb

T0 = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)  # Tuesday 10:00 in Asia/Shanghai
LEFT = (0.0, 0.0, 0.5, 0.0, 0.5, 1.0, 0.0, 1.0)  # the left half of the frame
ALL = CameraProfile(tenant_id="t1", camera_id="c1", timezone="Asia/Shanghai")


def person(box=(0.1, 0.1, 0.3, 0.9), score=0.9, track=1, **attrs: float) -> Detection:  # type: ignore[no-untyped-def]
    worn = {"chef_hat": 0.9, "mask": 0.9, "uniform": 0.9, "gloves": 0.9} | attrs
    return Detection("person", score, box, worn, track)


def det(label: str, box=(0.7, 0.7, 0.8, 0.8), score=0.9, track=5) -> Detection:  # type: ignore[no-untyped-def]
    return Detection(label, score, box, {}, track)


def types(dets: list[Detection], profile: CameraProfile = ALL, when: datetime = T0, **kw) -> set[str]:  # type: ignore[no-untyped-def]
    return {c.violation_type for c in evaluate(dets, profile, when, default_min_score=0.5, **kw)}


def test_dressed_person_is_fine() -> None:
    assert types([person()]) == set()


def test_missing_attributes_raise_their_violations() -> None:
    assert types([person(chef_hat=0.1, gloves=0.3)]) == {"no_chef_hat", "no_gloves"}
    assert types([person(mask=0.2, uniform=0.49)]) == {"no_mask", "no_uniform"}


def test_unsure_person_does_not_count() -> None:
    assert types([person(score=0.4, chef_hat=0.0)]) == set()


def test_per_rule_min_score() -> None:
    strict = CameraProfile(tenant_id="t1", camera_id="c1", rules=(Rule("rodent", min_score=0.95),))
    assert types([det("rodent", score=0.9)], strict) == set()
    assert types([det("rodent", score=0.97)], strict) == {"rodent"}


def test_object_rules() -> None:
    assert types([det("rodent")]) == {"rodent"}
    assert types([det("trash_bin_open")]) == {"trash_bin_open"}
    assert types([det("trash_bin_closed")]) == set()
    assert types([det("cigarette")]) == {"smoking"}


def test_phone_counts_only_in_a_persons_hands() -> None:
    near = det("phone", box=(0.25, 0.4, 0.32, 0.5))
    far = det("phone", box=(0.8, 0.8, 0.85, 0.85))
    cands = evaluate([person(track=7), near], ALL, T0, default_min_score=0.5)
    assert [(c.violation_type, c.track_id) for c in cands] == [("phone_use", 7)]  # carried by the person
    assert types([person(), far]) == set()


def test_profile_with_rules_runs_only_those() -> None:
    only_rodent = CameraProfile(
        tenant_id="t1", camera_id="c1", rules=(Rule("rodent"), Rule("smoking", enabled=False))
    )
    assert types([det("rodent"), det("cigarette", track=6), person(chef_hat=0.0)], only_rodent) == {"rodent"}


def test_masks_drop_detections_centred_inside() -> None:
    inside, outside = det("rodent", box=(0.1, 0.1, 0.2, 0.2)), det("rodent", box=(0.7, 0.1, 0.8, 0.2))
    assert apply_masks([inside, outside], [LEFT]) == [outside]
    # Straddling the edge: the centre decides.
    straddling = det("rodent", box=(0.45, 0.1, 0.65, 0.2))
    assert apply_masks([straddling], [LEFT]) == [straddling]


def test_zones_restrict_a_rule_to_its_polygons() -> None:
    zoned = CameraProfile(tenant_id="t1", camera_id="c1", rules=(Rule("rodent", zones=(LEFT,)),))
    assert types([det("rodent", box=(0.1, 0.1, 0.2, 0.2))], zoned) == {"rodent"}
    assert types([det("rodent", box=(0.7, 0.1, 0.8, 0.2))], zoned) == set()


def test_schedules_use_the_cameras_timezone() -> None:
    # Rodent watch only at night, 22:00-06:00 Shanghai time; T0 is 10:00 there.
    night = ScheduleWindow(start_minute=22 * 60, end_minute=6 * 60)
    p = CameraProfile(
        tenant_id="t1", camera_id="c1", timezone="Asia/Shanghai", rules=(Rule("rodent", schedule=(night,)),)
    )
    assert types([det("rodent")], p, T0) == set()
    assert types([det("rodent")], p, T0 + timedelta(hours=13)) == {"rodent"}  # 23:00
    assert types([det("rodent")], p, T0 + timedelta(hours=17)) == {"rodent"}  # 03:00 next day
    assert types([det("rodent")], p, T0 + timedelta(hours=21)) == set()  # 07:00


def test_schedule_weekdays_and_midnight_crossing() -> None:
    monday_night = ScheduleWindow(weekdays=frozenset({1}), start_minute=22 * 60, end_minute=2 * 60)
    shanghai = CameraProfile(tenant_id="t", camera_id="c", timezone="Asia/Shanghai").local_time
    monday_2330 = shanghai(datetime(2026, 8, 31, 15, 30, tzinfo=UTC))
    assert monday_2330.isoweekday() == 1
    assert monday_night.contains(monday_2330)
    assert monday_night.contains(monday_2330 + timedelta(hours=2))  # Tuesday 01:30: Monday's window
    assert not monday_night.contains(monday_2330 + timedelta(hours=3))  # 02:30
    assert not monday_night.contains(monday_2330 + timedelta(days=1))  # Tuesday 23:30


def test_profile_from_proto_and_validation() -> None:
    msg = pb.CameraProfile(
        tenant_id="t1",
        camera_id="c1",
        zone="cooking",
        rules_version=3,
        timezone="Asia/Shanghai",
        masks=[pb.Polygon(xy=LEFT)],
        rules=[
            pb.RuleConfig(
                violation_type="phone_use",
                enabled=True,
                min_score=0.7,
                schedule=[pb.ScheduleWindow(weekdays=[1, 2], start_minute=600, end_minute=840)],
            )
        ],
    )
    assert profile_problem(msg) is None
    p = profile_from_proto(msg)
    assert p.masks == (LEFT,) and p.rule("phone_use").min_score == 0.7  # type: ignore[union-attr]
    assert p.rule("rodent") is None
    assert profile_problem(pb.CameraProfile(tenant_id="t", camera_id="c", timezone="Mars/Olympus"))
    bad_type = pb.CameraProfile(tenant_id="t", camera_id="c", rules=[pb.RuleConfig(violation_type="dancing")])
    assert "dancing" in (profile_problem(bad_type) or "")


def test_fire_unattended_needs_n_seconds_without_a_person() -> None:
    watch = FireWatch(unattended_s=10, person_min_score=0.5, forget_after_s=3)
    flame = det("flame", box=(0.5, 0.5, 0.6, 0.6), track=9)
    cook = person(box=(0.55, 0.3, 0.75, 0.95), track=1)

    def fire(dets: list[Detection], t: float) -> set[str]:
        when = T0 + timedelta(seconds=t)
        return types(dets, when=when, unattended_flames=watch.observe(dets, when))

    assert fire([flame, cook], 0) == set()
    assert fire([flame], 5) == set()  # the cook left 5 s ago
    assert fire([flame], 9.5) == set()
    assert fire([flame], 15) == {"fire_unattended"}  # 15 s since anyone was near
    assert fire([flame, cook], 16) == set()  # back at the stove: attended again
    assert fire([flame], 20) == set()
    assert fire([flame], 26.5) == {"fire_unattended"}


def test_a_person_far_from_the_flame_does_not_attend_it() -> None:
    watch = FireWatch(unattended_s=10, person_min_score=0.5, forget_after_s=3)
    flame = det("flame", box=(0.8, 0.8, 0.85, 0.85), track=9)
    far = person(box=(0.0, 0.0, 0.1, 0.3))
    watch.observe([flame, far], T0)
    for t in range(1, 13):
        unattended = watch.observe([flame, far], T0 + timedelta(seconds=t))
    assert unattended == {9}


def test_clamp_box_keeps_boxes_in_the_unit_square_in_order() -> None:
    import math
    import random

    from bk_detector.detections import clamp_box

    def reference(box: tuple[float, ...]) -> tuple[float, ...]:
        x1, y1, x2, y2 = (0.0 if math.isnan(v) else min(1.0, max(0.0, float(v))) for v in box)
        return (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))

    rng = random.Random(11)
    special = [0.0, 1.0, -0.0, -1e-9, 1 + 1e-9, math.inf, -math.inf, math.nan, 0.5]
    for _ in range(5000):
        box = tuple(rng.choice(special) if rng.random() < 0.2 else rng.uniform(-0.3, 1.3) for _ in range(4))
        got = clamp_box(box)
        assert got == reference(box) and all(type(v) is float for v in got), box
    assert clamp_box((0.9, 0.8, 0.1, 0.2)) == (0.1, 0.2, 0.9, 0.8)  # corners put in order
    assert clamp_box((1, 0, 2, 1)) == (1.0, 0.0, 1.0, 1.0)  # ints become floats
