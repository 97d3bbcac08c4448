"""What the fault tests hold the platform to: no violation lost, no case doubled.

Three records are compared, each read from the outside of the platform:
- what the detector answered (``fault_tap``): per frame, the violation types raised on its camera;
- what was published: the STARTED events on ``detections.v1`` (read from the broker, outside any
  group), or, where the bus cannot be read, the raw evidence snapshots in the object store (stored
  before a STARTED is published, one per violation);
- what the case-manager made of them: its detection cases (per site and type, with occurrences).

The rules below are pure (no I/O) and tested on their own in test_fault_truth.py.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

# The detector may stamp a violation a little after the frame's capture time (a late frame counts as
# "now" for its camera); anything closer than this to the answered frame is the same violation.
CLOCK_SLACK = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class Answered:
    """A frame the detector answered (see fault_tap.AnsweredFrame)."""

    camera_id: str
    captured_at: datetime
    violations: frozenset[str]


@dataclass(frozen=True, slots=True)
class Started:
    """A STARTED event on detections.v1."""

    violation_id: str
    event_id: str
    site_id: str
    camera_id: str
    violation_type: str
    started_at: datetime


@dataclass(frozen=True, slots=True)
class CaseRow:
    """A detection case as the case-manager's API lists it."""

    case_id: str
    site_id: str
    case_type: str
    occurrences: int


@dataclass(frozen=True, slots=True)
class Run:
    """One stretch of answered frames of a camera showing a violation type as raised."""

    camera_id: str
    violation_type: str
    first_at: datetime  # capture time of its first answered frame
    previous_first_at: datetime | None  # the first frame of the previous run of the same type


def runs(answered: Iterable[Answered]) -> list[Run]:
    """Split each camera's answered frames (in capture order) into runs per violation type: a run
    starts at a frame raising a type its camera's previous answered frame did not."""
    by_camera: dict[str, list[Answered]] = defaultdict(list)
    for frame in answered:
        by_camera[frame.camera_id].append(frame)
    out: list[Run] = []
    for camera_id, frames in by_camera.items():
        frames.sort(key=lambda f: f.captured_at)
        before: frozenset[str] = frozenset()
        last_first: dict[str, datetime] = {}
        for frame in frames:
            for vtype in sorted(frame.violations - before):
                out.append(Run(camera_id, vtype, frame.captured_at, last_first.get(vtype)))
                last_first[vtype] = frame.captured_at
            before = frame.violations
    return out


def unpublished(answered: Iterable[Answered], started: Iterable[Started]) -> list[str]:
    """Violations the detector answered as raised that no STARTED event announces: lost ones.

    Each run needs a STARTED of its camera and type stamped after the previous run began and no
    later than its own first answered frame; a STARTED serves one run only.
    """
    stamps: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for s in started:
        stamps[(s.camera_id, s.violation_type)].append(s.started_at)
    problems = []
    for run in runs(answered):
        after = run.previous_first_at
        found = any(
            (after is None or at > after) and at <= run.first_at + CLOCK_SLACK
            for at in stamps[(run.camera_id, run.violation_type)]
        )
        if not found:
            problems.append(
                f"lost: {run.violation_type} on {run.camera_id}, answered as raised at "
                f"{run.first_at:%H:%M:%S.%f}, has no STARTED event"
            )
    return problems


def miscounted(started: Iterable[Started], cases: Iterable[CaseRow]) -> list[str]:
    """Every published violation counted exactly once, in exactly one case per site and type."""
    ids: dict[tuple[str, str], set[str]] = defaultdict(set)
    events: dict[str, set[str]] = defaultdict(set)
    for s in started:
        ids[(s.site_id, s.violation_type)].add(s.violation_id)
        events[s.violation_id].add(s.event_id)
    counted: dict[tuple[str, str], int] = defaultdict(int)
    opened: dict[tuple[str, str], list[str]] = defaultdict(list)
    for case in cases:
        counted[(case.site_id, case.case_type)] += case.occurrences
        opened[(case.site_id, case.case_type)].append(case.case_id)
    problems = []
    for key, case_ids in sorted(opened.items()):
        if len(case_ids) > 1:
            problems.append(f"duplicate cases: {len(case_ids)} open for {key[1]} at {key[0]}")
    for key in sorted(ids.keys() | counted.keys()):
        want, got = len(ids[key]), counted[key]
        if got < want:
            problems.append(f"lost: {want - got} of {want} published {key[1]} at {key[0]} not in a case")
        elif got > want:
            problems.append(
                f"counted twice: {key[1]} at {key[0]} has {got} occurrences for {want} violations"
            )
    for violation_id, event_ids in sorted(events.items()):
        if len(event_ids) > 1:
            problems.append(
                f"duplicate STARTED: violation {violation_id} published as {len(event_ids)} events"
            )
    return problems


def evidence_miscounted(evidence: Mapping[str, set[str]], cases: Sequence[CaseRow]) -> list[str]:
    """Where the bus cannot be read: each violation whose raw snapshot was stored (site -> violation
    ids) is counted exactly once by the cases of its site, and no site has two cases of a type."""
    counted: dict[str, int] = defaultdict(int)
    opened: dict[tuple[str, str], int] = defaultdict(int)
    for case in cases:
        counted[case.site_id] += case.occurrences
        opened[(case.site_id, case.case_type)] += 1
    problems = [
        f"duplicate cases: {n} open for {key[1]} at {key[0]}" for key, n in sorted(opened.items()) if n > 1
    ]
    for site in sorted(evidence.keys() | counted.keys()):
        want, got = len(evidence.get(site, ())), counted[site]
        if got != want:
            problems.append(
                f"{'lost' if got < want else 'counted twice'}: {site} has {want} violations "
                f"with stored evidence and {got} occurrences in its cases"
            )
    return problems
