"""Handover (交接): a camera that moves between detector pods keeps its story.

The gateway sends each camera to one pod and moves it when the pool grows or shrinks, or a pod
dies. Tracking and voting live in the pod's memory, so without help the new pod would raise the
same violation again (a second STARTED) and the old one would end it late, or never if it died.
The journal (``journal``) keeps each raised violation with its owner: the pod that judged the
camera's newest frame. From there:

- A camera's first frame on a pod waits for one read of the camera's records, and the pod adopts
  them: the same violation id and start, its track at the last known box, its vote raised. No new
  STARTED; it ends here like any other violation.
- Every ``renew_s`` the owner reads each record and writes it back with where the violation is now
  and a fresh lease. What it reads settles who has the camera (``claim``): another pod that saw
  newer frames has it (forget the camera without a word), an older owner means the camera came
  back (take it back), no record means it ended elsewhere (forget that violation).
- The idle sweep ends a violation only while the record still names this pod (``Confirm.OWNER``).
- A record nobody renews for a lease belongs to a dead pod and a camera that went nowhere:
  ``recovery`` ends it, so no violation stays open for ever.

Frame capture times decide "newer", not pod clocks: a camera's frames carry one clock.
The frame path never waits on the store except for a camera's first frame on a pod, and for the
frame that raises a violation (``evidence``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from bk_detector import metrics
from bk_detector.detections import Detection
from bk_detector.evidence import CameraContext, Confirm, ViolationJob
from bk_detector.firewatch import FireWatch
from bk_detector.journal import OpenViolation, ViolationJournal
from bk_detector.tracking import Tracker
from bk_detector.voting import RaisedVote, Voter

log = logging.getLogger("bk_detector.handover")
CameraKey = tuple[str, str]
LOOKUP_KEPT_S = 60.0  # a finished look-up waits this long for its camera's first judgement


class Claim(StrEnum):
    MINE = "mine"  # the record names this pod: renew it
    TAKE_BACK = "take_back"  # another pod had it, but this pod judged newer frames: the camera is back
    LOST = "lost"  # another pod judged newer frames: the camera is there now
    ENDED = "ended"  # no record: it ended on another pod


def claim(record: OpenViolation | None, *, pod: str, seen_at: datetime) -> Claim:
    """Who has a violation, from its record and the newest frame this pod judged of its camera."""
    if record is None:
        return Claim.ENDED
    if record.owner == pod:
        return Claim.MINE
    return Claim.TAKE_BACK if seen_at > record.seen_at else Claim.LOST


def stale(record: OpenViolation, *, now: datetime, lease_s: float) -> bool:
    """Not renewed for a lease: its pod is gone and no other pod took its camera."""
    return (now - record.renewed_at).total_seconds() >= lease_s


class CameraState(Protocol):
    """What handover touches of one camera's state in the pipeline."""

    tracker: Tracker
    fire: FireWatch
    voter: Voter
    context: CameraContext
    last_at: datetime | None


@dataclass(slots=True)
class _Held:
    record: OpenViolation
    key: CameraKey
    written: bool  # the record is known to be in the store
    renew_at: float  # monotonic time of its next renewal
    durable: asyncio.Task[None] | None = None  # its first write, while in flight

    def is_written(self) -> bool:
        if not self.written and self.durable is not None and self.durable.done():
            self.written = not self.durable.cancelled() and self.durable.exception() is None
            self.durable = None
        return self.written


class Handover:
    """This pod's side of the journal: the violations it holds, adoption, renewal."""

    def __init__(self, journal: ViolationJournal, *, renew_s: float, lookup_timeout_s: float) -> None:
        self.journal = journal
        self.renew_s, self.lookup_timeout_s = renew_s, lookup_timeout_s
        self._held: dict[str, _Held] = {}
        self._lookups: dict[CameraKey, tuple[asyncio.Task[list[OpenViolation]], float]] = {}

    def holds(self, violation_id: str) -> bool:
        return violation_id in self._held

    # -- a camera's first frame on this pod -------------------------------------------------------

    def look_up(self, keys: Iterable[CameraKey]) -> Awaitable[Any] | None:
        """Start reading the records of cameras new to this pod; what to await before judging them
        (None: nothing to wait for). Each read is bounded; a failed one adopts nothing."""
        waiting = []
        for key in keys:
            found = self._lookups.get(key)
            if found is None:
                task = asyncio.create_task(self._read_camera(key), name=f"handover-lookup-{key[1]}")
                found = self._lookups[key] = (task, time.monotonic())
            if not found[0].done():
                waiting.append(found[0])
        return asyncio.wait(waiting) if waiting else None

    async def _read_camera(self, key: CameraKey) -> list[OpenViolation]:
        try:
            async with asyncio.timeout(self.lookup_timeout_s):
                return await self.journal.camera(*key)
        except Exception as exc:  # an outage must not stop the camera: it starts afresh, loudly
            metrics.JOURNAL_ERRORS.labels("lookup").inc()
            log.warning(
                "journal of camera %s unreadable (%r): it starts without the violations it may "
                "have had on another pod (a second STARTED is possible)",
                key[1],
                exc,
                extra={"tenant_id": key[0], "camera_id": key[1]},
            )
            return []

    def adopt(self, key: CameraKey, cam: CameraState, when: datetime) -> None:
        """Give a camera new to this pod the violations its records hold (``when``: the capture
        time of its first frame here)."""
        found = self._lookups.pop(key, None)
        if found is None or not found[0].done():  # judged without a look-up (or before it ended)
            if found is not None:
                found[0].cancel()
            return
        for rec in found[0].result():
            vid = rec.violation_id
            if vid in self._held:
                continue
            start = rec.start
            cam.tracker.adopt(start.track_id, rec.label, rec.box, when)
            if rec.label == "flame":
                cam.fire.adopt(start.track_id, when)
            cam.voter.adopt(
                RaisedVote(
                    vid,
                    start.violation_type,
                    start.track_id,
                    rec.box,
                    start.started_at,
                    rec.present_at,
                    rec.observations,
                    rec.score or start.score,
                )
            )
            self.journal.reopen(vid)
            # Claimed at the next renewal (at most a sweep away): then the old pod stands down.
            self._held[vid] = _Held(rec, key, written=True, renew_at=0.0)
            metrics.HANDOVER.labels("adopted").inc()
            log.info(
                "violation adopted from %s",
                rec.owner,
                extra={
                    "tenant_id": key[0],
                    "camera_id": key[1],
                    "violation_id": vid,
                    "violation_type": start.violation_type,
                },
            )

    # -- transitions (the frame path: no I/O here) ------------------------------------------------

    def started(self, key: CameraKey, cam: CameraState, job: ViolationJob, dets: Iterable[Detection]) -> None:
        """A violation raised here: its record rides on the job (``evidence`` stores it)."""
        t = job.transition
        now = self.journal.clock.now()
        job.record = OpenViolation(
            start=t,
            label=next((d.label for d in dets if d.track_id == t.track_id), ""),
            camera=job.camera,
            model_version=job.model_version,
            event_id=job.event_id,
            detections=list(job.detections),
            owner=self.journal.pod,
            opened_at=now,
            renewed_at=now,
            seen_at=cam.last_at or t.at,
            box=t.box,
            last_present=t.at,
            observations=t.observations,
            score=t.score,
        )
        self._held[t.violation_id] = _Held(
            job.record, key, written=False, renew_at=time.monotonic() + self.renew_s
        )

    def submitted(self, job: ViolationJob) -> None:
        """The job is queued: its first write (if any) is on its way."""
        held = self._held.get(job.transition.violation_id)
        if held is not None and job.durable is not None:
            held.durable = job.durable

    def ended(self, job: ViolationJob, *, idle: bool) -> None:
        """A violation ended here. Ended by the idle sweep, it is published only if this pod still
        owns it: the camera may be on another pod now."""
        vid = job.transition.violation_id
        held = self._held.pop(vid, None)
        self.journal.closing(vid)
        if idle and held is not None and held.is_written():
            job.confirm = Confirm.OWNER

    # -- the sweeper ------------------------------------------------------------------------------

    async def renew(self, cameras: Mapping[CameraKey, CameraState]) -> set[CameraKey]:
        """Renew what is due; returns the cameras now on another pod (the caller forgets them)."""
        now = time.monotonic()
        for key, (task, started) in list(self._lookups.items()):
            if task.done() and now - started > LOOKUP_KEPT_S:
                del self._lookups[key]
        lost: set[CameraKey] = set()
        for vid, held in list(self._held.items()):
            if held.renew_at > now or held.key in lost:
                continue
            held.renew_at = now + self.renew_s
            cam = cameras.get(held.key)
            vote = cam.voter.raised_vote(vid) if cam is not None else None
            if cam is None or vote is None:  # gone without a transition (camera forgotten)
                self._drop(vid)
                continue
            rec = held.record
            rec.box, rec.last_present, rec.observations, rec.score = (
                vote.box,
                vote.last_present,
                vote.observations,
                vote.score,
            )
            if cam.last_at is not None and cam.last_at > rec.seen_at:
                rec.seen_at = cam.last_at
            try:
                decision = Claim.MINE
                if held.is_written():
                    current = await self.journal.read(rec.tenant_id, rec.camera_id, vid)
                    decision = claim(current, pod=self.journal.pod, seen_at=rec.seen_at)
                if vid not in self._held:  # ended while we read
                    continue
                if decision is Claim.LOST:
                    lost.add(held.key)
                elif decision is Claim.ENDED:
                    cam.voter.release(vid)
                    self._drop(vid)
                elif await self.journal.write(rec):
                    held.written = True
                if decision is not Claim.MINE:
                    metrics.HANDOVER.labels(decision.value).inc()
                    log.info(
                        "violation %s",
                        {
                            Claim.LOST: "moved to another pod: forgotten here",
                            Claim.ENDED: "ended on another pod: forgotten here",
                            Claim.TAKE_BACK: "back on this pod",
                        }[decision],
                        extra={"tenant_id": rec.tenant_id, "camera_id": rec.camera_id, "violation_id": vid},
                    )
            except Exception as exc:  # retried at the next renewal; the lease is 3+ renewals long
                metrics.JOURNAL_ERRORS.labels("renew").inc()
                log.warning("renewing violation %s failed: %r", vid, exc)
        for key in lost:
            self.forget(key)
        return lost

    def forget(self, key: CameraKey) -> None:
        """Drop every violation of a camera another pod has now (no ENDED: it goes on there)."""
        for vid in [vid for vid, held in self._held.items() if held.key == key]:
            self._drop(vid)

    def _drop(self, vid: str) -> None:
        self._held.pop(vid, None)
        self.journal.release(vid)
