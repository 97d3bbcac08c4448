"""The fault suite's rules on their own (no I/O): what counts as lost, doubled or duplicated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fault_truth import Answered, CaseRow, Started, evidence_miscounted, miscounted, runs, unpublished

pytestmark = pytest.mark.faults
T0 = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def frames(camera: str, *shown: tuple[float, set[str]]) -> list[Answered]:
    return [Answered(camera, at(t), frozenset(types)) for t, types in shown]


def started(
    vid: str, t: float, vtype: str = "rodent", camera: str = "cam", site: str = "s1", event: str | None = None
) -> Started:
    return Started(vid, event or f"e-{vid}", site, camera, vtype, at(t))


def test_a_run_starts_where_the_previous_frame_of_the_camera_did_not_show_the_type() -> None:
    answered = frames("cam", (1, set()), (2, {"rodent"}), (3, {"rodent"}), (4, set()), (5, {"rodent"}))
    got = [(r.first_at, r.previous_first_at) for r in runs(answered)]
    assert got == [(at(2), None), (at(5), at(2))]


def test_runs_are_per_camera_and_in_capture_order() -> None:
    answered = frames("a", (3, {"rodent"}), (1, set())) + frames("b", (2, {"rodent"}))
    assert sorted((r.camera_id, r.first_at) for r in runs(answered)) == [("a", at(3)), ("b", at(2))]


def test_an_answered_violation_with_its_started_event_is_not_lost() -> None:
    answered = frames("cam", (2, {"rodent"}), (3, {"rodent"}))
    assert unpublished(answered, [started("v1", 2)]) == []


def test_an_answered_violation_without_a_started_event_is_lost() -> None:
    answered = frames("cam", (2, {"rodent"}))
    [problem] = unpublished(answered, [started("v1", 2, vtype="smoking")])
    assert problem.startswith("lost: rodent on cam")


def test_a_later_started_event_does_not_cover_an_earlier_answered_violation() -> None:
    # The detector died after answering at 2 s; its replacement raised the rat anew at 9 s.
    answered = frames("cam", (2, {"rodent"}), (6, set()), (9, {"rodent"}))
    [problem] = unpublished(answered, [started("v2", 9)])
    assert "raised at 09:00:02" in problem


def test_one_started_event_covers_one_run_only() -> None:
    answered = frames("cam", (2, {"rodent"}), (4, set()), (6, {"rodent"}))
    assert len(unpublished(answered, [started("v1", 2)])) == 1
    assert unpublished(answered, [started("v1", 2), started("v2", 6)]) == []


def test_a_started_event_stamped_a_moment_after_its_frame_still_counts() -> None:
    answered = frames("cam", (2, {"rodent"}))
    assert unpublished(answered, [started("v1", 2.5)]) == []


def test_each_published_violation_is_one_occurrence_of_one_case() -> None:
    events = [started("v1", 1), started("v2", 40), started("v3", 5, vtype="no_mask")]
    cases = [CaseRow("c1", "s1", "rodent", 2), CaseRow("c2", "s1", "no_mask", 1)]
    assert miscounted(events, cases) == []


def test_a_published_violation_missing_from_its_case_is_lost() -> None:
    [problem] = miscounted([started("v1", 1), started("v2", 40)], [CaseRow("c1", "s1", "rodent", 1)])
    assert problem.startswith("lost: 1 of 2")


def test_a_published_violation_without_any_case_is_lost() -> None:
    [problem] = miscounted([started("v1", 1)], [])
    assert problem.startswith("lost: 1 of 1")


def test_a_violation_counted_twice_is_reported() -> None:
    [problem] = miscounted([started("v1", 1)], [CaseRow("c1", "s1", "rodent", 2)])
    assert problem.startswith("counted twice")


def test_two_cases_for_one_site_and_type_are_duplicates() -> None:
    problems = miscounted(
        [started("v1", 1), started("v2", 2)],
        [CaseRow("c1", "s1", "rodent", 1), CaseRow("c2", "s1", "rodent", 1)],
    )
    assert problems == ["duplicate cases: 2 open for rodent at s1"]


def test_a_violation_published_under_two_event_ids_is_a_duplicate_started() -> None:
    events = [started("v1", 1, event="e1"), started("v1", 1, event="e2")]
    assert miscounted(events, [CaseRow("c1", "s1", "rodent", 1)]) == [
        "duplicate STARTED: violation v1 published as 2 events"
    ]


def test_a_redelivered_event_is_not_a_duplicate() -> None:
    events = [started("v1", 1, event="e1"), started("v1", 1, event="e1")]
    assert miscounted(events, [CaseRow("c1", "s1", "rodent", 1)]) == []


def test_evidence_counts_hold_per_site() -> None:
    cases = [CaseRow("c1", "s1", "rodent", 2), CaseRow("c2", "s2", "no_mask", 1)]
    assert evidence_miscounted({"s1": {"v1", "v2"}, "s2": {"v3"}}, cases) == []
    assert evidence_miscounted({"s1": {"v1", "v2", "v4"}, "s2": {"v3"}}, cases) == [
        "lost: s1 has 3 violations with stored evidence and 2 occurrences in its cases"
    ]
    assert evidence_miscounted({"s1": {"v1"}, "s2": {"v3"}}, cases) == [
        "counted twice: s1 has 1 violations with stored evidence and 2 occurrences in its cases"
    ]


def test_evidence_counts_find_duplicate_cases() -> None:
    cases = [CaseRow("c1", "s1", "rodent", 1), CaseRow("c2", "s1", "rodent", 1)]
    assert evidence_miscounted({"s1": {"v1", "v2"}}, cases) == ["duplicate cases: 2 open for rodent at s1"]
