"""Names of the closed loop (监管闭环): statuses, actions, sources, verdicts, risk classes."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class RiskClass(IntEnum):
    """I: immediate (双推送); II: rectify by a deadline; III: counted for routine supervision."""

    I = 1  # noqa: E741 — the regulators' own name for the class
    II = 2
    III = 3


class CaseStatus(StrEnum):
    NEW = "new"
    DISPATCHED = "dispatched"
    ACKNOWLEDGED = "acknowledged"
    RECTIFYING = "rectifying"  # rejected back: the site must rectify again
    SUBMITTED = "submitted"  # rectification (整改) submitted with evidence
    RECHECK = "recheck"  # on-site recheck (现场复核) scheduled
    APPROVED = "approved"
    CLOSED = "closed"


OPEN_STATUSES = frozenset(CaseStatus) - {CaseStatus.CLOSED}


class Action(StrEnum):
    CREATED = "created"
    MERGED = "merged"
    DISPATCH = "dispatch"
    ACKNOWLEDGE = "acknowledge"
    SUBMIT = "submit"
    APPROVE = "approve"
    REJECT = "reject"
    SCHEDULE_RECHECK = "schedule_recheck"
    CLOSE = "close"
    FALSE_ALARM = "false_alarm"
    YELLOW_CARD = "yellow_card"
    RED_CARD = "red_card"
    CLEARED = "cleared"  # the source condition ended (camera back online, ledger fixed)
    LABEL = "label"  # a supervisor corrected what the capture shows (training labels, 标注)
    COPIED = "copied"  # 抄告: a copy went to the education bureau (a recorded fact, CaseCopy)
    REGRADED = "regraded"  # a repeat graded more severe raised the case's class (a warning became an alarm)
    AUTO_CLOSE = "auto_close"  # Class III closed by itself after the tenant's quiet period


class Source(StrEnum):
    DETECTION = "detection"
    CAMERA = "camera"
    LEDGER = "ledger"
    COMPLAINT = "complaint"
    MANUAL = "manual"


class Verdict(StrEnum):
    CONFIRMED = "confirmed"
    FALSE_ALARM = "false_alarm"  # 误报: a labelled negative for the detector
    AUTO_CLOSED = "auto_closed"  # Class III nobody reviewed, closed after the tenant's period: no label


class CardLevel(IntEnum):
    NONE = 0
    YELLOW = 1
    RED = 2
