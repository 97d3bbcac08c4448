"""Recovery (补发): what the journal holds that no live pod is delivering.

Any pod may run it, at start-up and every ``journal_scan_s``; event ids follow from violation ids,
so two pods recovering the same violation publish the same events, and consumers keep one.

- A STARTED not marked published a lease after it was stored: its pod died with it queued, or
  gave up on an outage. It is published from the stored raw frame (annotated again).
- A record nobody renewed for a lease: its pod is gone and its camera went to no other pod (that
  pod would have adopted and renewed it). It is ENDED, after its STARTED if that is missing, at
  the time it would have ended had its pod lived.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from bk_detector import metrics
from bk_detector.evidence import Confirm, EvidencePublisher, ViolationJob
from bk_detector.handover import Handover, stale
from bk_detector.journal import ViolationJournal
from bk_detector.voting import Phase

log = logging.getLogger("bk_detector.recovery")


@dataclass(slots=True)
class Recovered:
    started: int = 0
    ended: int = 0


async def recover(
    journal: ViolationJournal,
    publisher: EvidencePublisher,
    handover: Handover | None,
    *,
    lease_s: float,
    end_after_s: float,
) -> Recovered:
    """Queue what needs recovering on ``publisher``; raises on store errors (the caller logs)."""
    out = Recovered()
    now = journal.clock.now()
    async for found in journal.scan():
        rec = found.record
        vid = rec.violation_id
        if publisher.queued(vid) or (
            handover is not None and handover.holds(vid) and (now - rec.opened_at).total_seconds() < lease_s
        ):
            continue  # being delivered, or just raised here
        where = {
            "tenant_id": rec.tenant_id,
            "camera_id": rec.camera_id,
            "violation_id": vid,
            "owner": rec.owner,
        }
        if stale(rec, now=now, lease_s=lease_s) and (handover is None or not handover.holds(vid)):
            # Its STARTED goes first if it is missing (``EvidencePublisher`` sees to that).
            at = max(rec.seen_at, rec.present_at + timedelta(seconds=end_after_s))
            if publisher.submit(ViolationJob.ended_from(rec, at, Confirm.STALE)):
                out.ended += 1
                metrics.RECOVERED.labels(Phase.ENDED.value).inc()
                log.warning("ending a violation its pod left open", extra=where)
        elif not found.started and (now - rec.opened_at).total_seconds() >= lease_s:
            job = ViolationJob.started_from(rec, await journal.raw(rec))
            if publisher.submit(job):
                out.started += 1
                metrics.RECOVERED.labels(Phase.STARTED.value).inc()
                log.warning("publishing a violation its pod did not deliver", extra=where)
    return out
