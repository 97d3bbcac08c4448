"""What a rule returns: plain data, no I/O. ``alerts.py`` turns findings into ledger.alerts.v1."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Severity(StrEnum):
    WARNING = "warning"
    ALARM = "alarm"


@dataclass(frozen=True)
class Finding:
    """One rule outcome about one subject (a record, staff member, supplier or sensor).

    ``active=False`` clears a condition raised before (a sensor back in range, a renewed licence).
    """

    ledger: str
    rule: str
    site_id: str
    subject_id: str
    severity: Severity
    message: str
    active: bool = True
    due_at: datetime | None = None
    details: Mapping[str, str] = field(default_factory=dict)

    @property
    def alert_id(self) -> str:
        # Stable per condition, so a re-raised gap keeps its id and the case-manager aggregates it.
        return f"{self.ledger}:{self.rule}:{self.site_id}:{self.subject_id}"
