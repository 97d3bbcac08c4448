"""Camera profile checks shared by the gateway's registry and the detector: pure, no I/O."""

from __future__ import annotations

from bkcore.profiles import VIOLATION_TYPES, polygon_problems, profile_problems, window_problems
from bkproto.detector.v1 import detector_pb2 as pb

SQUARE = [0.1, 0.1, 0.4, 0.1, 0.4, 0.4, 0.1, 0.4]


def test_the_violation_types_are_proto_enum_names() -> None:
    assert VIOLATION_TYPES[0] == "no_chef_hat" and "fire_unattended" in VIOLATION_TYPES
    assert len(VIOLATION_TYPES) == len(pb.ViolationType.keys()) - 1  # all but UNSPECIFIED
    for vtype in VIOLATION_TYPES:
        assert pb.ViolationType.Value("VIOLATION_TYPE_" + vtype.upper()) > 0


def test_a_good_profile_has_no_problem() -> None:
    msg = pb.CameraProfile(
        timezone="Asia/Shanghai",
        masks=[pb.Polygon(xy=SQUARE)],
        rules=[
            pb.RuleConfig(
                violation_type=t,
                enabled=True,
                min_score=0.6,
                zones=[pb.Polygon(xy=SQUARE)],
                schedule=[pb.ScheduleWindow(weekdays=[1, 7], start_minute=1320, end_minute=360)],
            )
            for t in VIOLATION_TYPES
        ],
    )
    assert profile_problems(msg) == []
    assert profile_problems(pb.CameraProfile()) == []  # no rules listed: every rule with defaults


def test_each_problem_names_its_field() -> None:
    msg = pb.CameraProfile(
        timezone="Mars/Olympus_Mons",
        masks=[pb.Polygon(xy=SQUARE), pb.Polygon(xy=[0.1, 0.1, 0.2, 0.2])],
        rules=[
            pb.RuleConfig(violation_type="no_mask"),
            pb.RuleConfig(violation_type="rodent", min_score=1.5),
            pb.RuleConfig(violation_type="no_hats"),
            pb.RuleConfig(violation_type="no_mask"),
            pb.RuleConfig(
                violation_type="smoking",
                zones=[pb.Polygon(xy=[0.1, 0.1, 0.2, 0.2, 0.3, 0.3])],
                schedule=[pb.ScheduleWindow(weekdays=[0, 8], end_minute=1500)],
            ),
        ],
    )
    problems = profile_problems(msg)
    assert [p.split(":", 1)[0] for p in problems] == [
        "timezone",
        "masks[1].xy",
        "rules[1].min_score",
        "rules[2].violation_type",
        "rules[3].violation_type",
        "rules[4].zones[0].xy",
        "rules[4].schedule[0].weekdays",
        "rules[4].schedule[0].end_minute",
    ]
    unknown = problems[3]
    assert unknown.startswith("rules[2].violation_type: unknown rule 'no_hats' (known: no_chef_hat, ")
    assert all(t in unknown for t in VIOLATION_TYPES)
    assert "rules[0]" in problems[4]  # the duplicate says where the first one is
    assert all("; " not in p for p in problems)  # joined by "; " they stay apart


def test_polygons_and_windows() -> None:
    assert polygon_problems(SQUARE, "m") == []
    assert polygon_problems([0.1, 0.1, 0.2, 0.2, 0.3], "m")  # odd count
    assert polygon_problems([0.1, 0.1, 1.2, 0.2, 0.3, 0.5], "m")  # outside the frame
    assert polygon_problems([float("nan"), 0.1, 0.2, 0.2, 0.3, 0.5], "m")
    assert polygon_problems([0.1, 0.1, 0.2, 0.2, 0.3, 0.3], "m")  # on one line
    assert window_problems(pb.ScheduleWindow(start_minute=0, end_minute=1440), "w") == []
    assert window_problems(pb.ScheduleWindow(start_minute=1441), "w") == [
        "w.start_minute: 1441 is past midnight (minutes 0..1440)"
    ]
