"""A camera's health as a state machine, and the alarms its conditions raise. Pure: no I/O, no clock.

States: connecting → online ⇄ degraded; any → offline on failure; offline stays offline through
retries (no connecting/offline flapping on every reconnect) until a frame arrives.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    CONNECTING = "connecting"
    ONLINE = "online"
    DEGRADED = "degraded"
    OFFLINE = "offline"
    DISABLED = "disabled"


class Alarm(StrEnum):
    OFFLINE = "offline"  # 离线
    FROZEN = "frozen"  # 画面冻结
    COVERED = "covered"  # 遮挡
    PROFILE_REFUSED = "profile_refused"  # AI 配置被拒: a detector refused the camera's profile


@dataclass(frozen=True, slots=True)
class Transition:
    previous: State
    state: State
    reason: str
    since: float


class HealthMachine:
    def __init__(self, now: float) -> None:
        self.state = State.CONNECTING
        self.since = now
        self.reason = "starting"
        self.error_kind = ""

    def _move(self, state: State, reason: str, now: float) -> Transition | None:
        if state == self.state:
            self.reason = reason  # same state, newer detail (e.g. another error): no event
            return None
        t = Transition(self.state, state, reason, now)
        self.state, self.since, self.reason = state, now, reason
        return t

    def frame(self, now: float, problem: str | None) -> Transition | None:
        """A frame arrived; ``problem`` (frozen, covered, slow) makes it degraded."""
        self.error_kind = ""
        return self._move(State.DEGRADED if problem else State.ONLINE, problem or "receiving video", now)

    def failed(self, now: float, kind: str, reason: str) -> Transition | None:
        self.error_kind = kind
        return self._move(State.OFFLINE, reason, now)

    def disabled(self, now: float) -> Transition | None:
        return self._move(State.DISABLED, "disabled in the registry", now)


@dataclass(frozen=True, slots=True)
class AlarmChange:
    alarm: Alarm
    active: bool
    since: float


class AlarmTracker:
    """Raises an alarm once a condition has lasted its threshold; clears it when the condition ends.
    Alarms without a threshold are news, not conditions (a detector refused the profile): ``raise_now``
    and ``clear_now`` set them, and ``active`` lists every alarm of the camera either way."""

    def __init__(self, thresholds: dict[Alarm, float]) -> None:
        self.thresholds = thresholds
        self.active: set[Alarm] = set()

    def raise_now(self, alarm: Alarm, now: float) -> AlarmChange | None:
        if alarm in self.active:
            return None
        self.active.add(alarm)
        return AlarmChange(alarm, True, now)

    def clear_now(self, alarm: Alarm, now: float) -> AlarmChange | None:
        if alarm not in self.active:
            return None
        self.active.discard(alarm)
        return AlarmChange(alarm, False, now)

    def update(self, now: float, conditions: dict[Alarm, float | None]) -> list[AlarmChange]:
        """``conditions`` maps each alarm to since when its condition holds (None = not now)."""
        changes = []
        for alarm, threshold in self.thresholds.items():
            since = conditions.get(alarm)
            if since is not None and now - since >= threshold and alarm not in self.active:
                self.active.add(alarm)
                changes.append(AlarmChange(alarm, True, since))
            elif since is None and alarm in self.active:
                self.active.discard(alarm)
                changes.append(AlarmChange(alarm, False, now))
        return changes
