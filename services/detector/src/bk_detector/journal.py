"""The journal (违规台账) of open violations, kept in the object store: the one durable thing a
detector pod has.

A pod's memory dies with it, yet a violation it raised must outlive it twice over:

- its evidence: the STARTED frame (the raw JPEG, at its final evidence key) and a record are stored
  before the frame's answer goes back, so another pod can still publish the event if this one is
  killed first (``recovery``);
- its story: the record names the pod that has the camera now, so a camera that moves to another
  pod goes on there (same violation id, no second STARTED; ``handover``), and a violation nobody
  has any more is ended by whoever finds it, never left open for ever.

Layout (the platform's own folder, like ``models/``; the tenant is the next level down):

    detector/violations/{tenant}/{camera}/{violation_id}.json      the record, rewritten by its owner
    detector/violations/{tenant}/{camera}/{violation_id}.started   once STARTED is on the bus

One folder for every tenant, so recovery finds all open violations with one listing, not one per
tenant. Records are short-lived (closed when their violation ends). The marker is an object of its
own, so whoever publishes never races the owner rewriting the record.
Every call here is bounded by ``timeout_s``; failures raise (callers count, log and retry).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import socket
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bk_detector.detections import Box, Detection
from bk_detector.evidence import CameraContext, snapshot_keys
from bk_detector.voting import Phase, Transition
from bkcore.clock import Clock
from bkcore.objstore.base import ObjectNotFound, ObjectStore

log = logging.getLogger("bk_detector.journal")
FOLDER = "detector/violations"
RECORD, MARKER = ".json", ".started"
FORMAT = 1
_CLOSED_KEPT = 4096  # violation ids remembered as closed, so a late rewrite cannot bring one back


class BadRecord(ValueError):
    """A journal object that is not a record this code can read."""


@dataclass(slots=True)
class OpenViolation:
    """One raised violation as the journal keeps it: how it started, where it is now, who has it."""

    start: Transition  # the STARTED transition, exactly as first published
    label: str  # the tracked object's label (person, rodent, flame...)
    camera: CameraContext
    model_version: str
    event_id: str  # the STARTED event's id (recovery publishes under the same id)
    detections: list[Detection]  # the STARTED frame's, to draw the annotated snapshot again
    owner: str  # the pod that has the camera now
    opened_at: datetime  # owner's wall clock when first stored
    renewed_at: datetime  # owner's wall clock at its last write: its lease
    seen_at: datetime  # capture time of the newest frame the owner judged
    box: Box = (0.0, 0.0, 0.0, 0.0)  # where it was last seen
    last_present: datetime | None = None
    observations: int = 0
    score: float = 0.0

    @property
    def violation_id(self) -> str:
        return self.start.violation_id

    @property
    def tenant_id(self) -> str:
        return self.camera.tenant_id

    @property
    def camera_id(self) -> str:
        return self.camera.camera_id

    @property
    def present_at(self) -> datetime:
        return self.last_present or self.start.at


def pod_identity(name: str = "") -> str:
    """This process's owner name: the pod's name (or host and pid) and a random suffix, so a
    restarted container never mistakes its predecessor's records for its own."""
    return f"{name or f'{socket.gethostname()}-{os.getpid()}'}-{secrets.token_hex(3)}"


def camera_folder(tenant_id: str, camera_id: str) -> str:
    return f"{FOLDER}/{tenant_id}/{camera_id}/"


def record_key(tenant_id: str, camera_id: str, violation_id: str) -> str:
    return f"{camera_folder(tenant_id, camera_id)}{violation_id}{RECORD}"


def marker_key(tenant_id: str, camera_id: str, violation_id: str) -> str:
    return f"{camera_folder(tenant_id, camera_id)}{violation_id}{MARKER}"


# -- the record as JSON (pure) --------------------------------------------------------------------


def encode(rec: OpenViolation) -> bytes:
    s, c = rec.start, rec.camera
    doc = {
        "format": FORMAT,
        "owner": rec.owner,
        "opened_at": _ts(rec.opened_at),
        "renewed_at": _ts(rec.renewed_at),
        "seen_at": _ts(rec.seen_at),
        "camera": {
            "tenant_id": c.tenant_id,
            "site_id": c.site_id,
            "camera_id": c.camera_id,
            "zone": c.zone,
            "timezone": c.timezone,
        },
        "model_version": rec.model_version,
        "event_id": rec.event_id,
        "label": rec.label,
        "start": {
            "violation_id": s.violation_id,
            "violation_type": s.violation_type,
            "track_id": s.track_id,
            "score": s.score,
            "box": list(s.box),
            "started_at": _ts(s.started_at),
            "at": _ts(s.at),
            "observations": s.observations,
        },
        "detections": [
            {
                "label": d.label,
                "score": d.score,
                "box": list(d.box),
                "attributes": d.attributes,
                "track_id": d.track_id,
            }
            for d in rec.detections
        ],
        "box": list(rec.box),
        "last_present": _ts(rec.last_present) if rec.last_present else None,
        "observations": rec.observations,
        "score": rec.score,
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def decode(data: bytes) -> OpenViolation:
    """The record in ``data``; raises BadRecord naming what is wrong."""
    try:
        doc = json.loads(data)
        if doc.get("format") != FORMAT:
            raise BadRecord(f"unknown record format {doc.get('format')!r}")
        s, c = doc["start"], doc["camera"]
        start = Transition(
            phase=Phase.STARTED,
            violation_id=str(s["violation_id"]),
            violation_type=str(s["violation_type"]),
            track_id=int(s["track_id"]),
            score=float(s["score"]),
            box=_box(s["box"]),
            started_at=_dt(s["started_at"]),
            at=_dt(s["at"]),
            observations=int(s["observations"]),
        )
        return OpenViolation(
            start=start,
            label=str(doc["label"]),
            camera=CameraContext(
                tenant_id=str(c["tenant_id"]),
                site_id=str(c["site_id"]),
                camera_id=str(c["camera_id"]),
                zone=str(c["zone"]),
                timezone=str(c["timezone"]),
            ),
            model_version=str(doc["model_version"]),
            event_id=str(doc["event_id"]),
            detections=[
                Detection(
                    str(d["label"]),
                    float(d["score"]),
                    _box(d["box"]),
                    {str(k): float(v) for k, v in d["attributes"].items()},
                    int(d["track_id"]),
                )
                for d in doc["detections"]
            ],
            owner=str(doc["owner"]),
            opened_at=_dt(doc["opened_at"]),
            renewed_at=_dt(doc["renewed_at"]),
            seen_at=_dt(doc["seen_at"]),
            box=_box(doc["box"]),
            last_present=_dt(doc["last_present"]) if doc["last_present"] else None,
            observations=int(doc["observations"]),
            score=float(doc["score"]),
        )
    except BadRecord:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BadRecord(f"unreadable violation record: {type(exc).__name__}: {exc}") from None


def _ts(when: datetime) -> str:
    if when.tzinfo is None:
        raise ValueError("journal times must be timezone-aware")
    return when.isoformat()


def _dt(text: Any) -> datetime:
    when = datetime.fromisoformat(str(text))
    if when.tzinfo is None:
        raise ValueError(f"time without a timezone: {text!r}")
    return when


def _box(values: Any) -> Box:
    x1, y1, x2, y2 = (float(v) for v in values)
    return (x1, y1, x2, y2)


# -- the store side -------------------------------------------------------------------------------


@dataclass(slots=True)
class Found:
    """A record found by ``scan``, and whether its STARTED is known to be on the bus."""

    record: OpenViolation
    started: bool


@dataclass
class ViolationJournal:
    store: ObjectStore
    pod: str  # this process's name in records ("owner")
    clock: Clock
    timeout_s: float = 5.0
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    _closed: OrderedDict[str, None] = field(default_factory=OrderedDict)
    _bad: set[str] = field(default_factory=set)  # unreadable records already reported

    async def open(self, rec: OpenViolation, jpeg: bytes) -> None:
        """Store the STARTED frame at its final evidence key, then the record that points at it."""
        raw_key, _ = snapshot_keys(rec.camera, rec.violation_id, rec.start.started_at)
        async with asyncio.timeout(self.timeout_s):
            await self.store.put(raw_key, jpeg, "image/jpeg")
        await self.write(rec)

    async def write(self, rec: OpenViolation) -> bool:
        """(Re)write ``rec`` as owned by this pod now; False when it was closed meanwhile."""
        vid = rec.violation_id
        async with self._lock(vid):
            if vid in self._closed:  # ended here: a late rewrite must not reopen it
                return False
            rec.owner, rec.renewed_at = self.pod, self.clock.now()
            async with asyncio.timeout(self.timeout_s):
                await self.store.put(
                    record_key(rec.tenant_id, rec.camera_id, vid), encode(rec), "application/json"
                )
        return True

    async def read(self, tenant_id: str, camera_id: str, violation_id: str) -> OpenViolation | None:
        """The record as stored now (None: there is none); raises BadRecord or store errors."""
        try:
            async with asyncio.timeout(self.timeout_s):
                data = await self.store.get(record_key(tenant_id, camera_id, violation_id))
        except ObjectNotFound:
            return None
        return decode(data)

    async def camera(self, tenant_id: str, camera_id: str) -> list[OpenViolation]:
        """Every readable record of one camera (a camera's first frame on a pod)."""
        async with asyncio.timeout(self.timeout_s):
            keys = await self.store.list(camera_folder(tenant_id, camera_id))
        out = []
        for key in keys:
            if key.endswith(RECORD) and (rec := await self._read_key(key)) is not None:
                out.append(rec)
        return out

    async def raw(self, rec: OpenViolation) -> bytes:
        """The STARTED frame as stored by ``open`` (b"": it is not there)."""
        raw_key, _ = snapshot_keys(rec.camera, rec.violation_id, rec.start.started_at)
        try:
            async with asyncio.timeout(self.timeout_s):
                return await self.store.get(raw_key)
        except ObjectNotFound:
            log.warning(
                "raw frame of violation %s is missing: its STARTED goes out without pictures",
                rec.violation_id,
            )
            return b""

    async def started(self, tenant_id: str, camera_id: str, violation_id: str) -> bool:
        """Whether the violation's STARTED is marked as published."""
        async with asyncio.timeout(self.timeout_s):
            return await self.store.exists(marker_key(tenant_id, camera_id, violation_id))

    async def mark_started(self, tenant_id: str, camera_id: str, violation_id: str) -> None:
        async with asyncio.timeout(self.timeout_s):
            await self.store.put(
                marker_key(tenant_id, camera_id, violation_id), b"", "application/octet-stream"
            )

    def release(self, violation_id: str) -> None:
        """This pod no longer has ``violation_id`` (it moved, or ended elsewhere)."""
        self._locks.pop(violation_id, None)

    def closing(self, violation_id: str) -> None:
        """From now on, writes of ``violation_id`` are refused (it ended on this pod)."""
        self._closed[violation_id] = None
        self._closed.move_to_end(violation_id)
        while len(self._closed) > _CLOSED_KEPT:
            self._closed.popitem(last=False)

    def reopen(self, violation_id: str) -> None:
        """This pod holds ``violation_id`` again (adopted back from another pod)."""
        self._closed.pop(violation_id, None)

    async def close(self, tenant_id: str, camera_id: str, violation_id: str) -> None:
        """Remove the record, then its marker (a crash in between leaves a marker ``scan`` clears)."""
        self.closing(violation_id)
        async with self._lock(violation_id):  # waits for a rewrite already on its way
            async with asyncio.timeout(self.timeout_s):
                await self.store.delete(record_key(tenant_id, camera_id, violation_id))
                await self.store.delete(marker_key(tenant_id, camera_id, violation_id))
        self._locks.pop(violation_id, None)

    async def scan(self) -> AsyncIterator[Found]:
        """Every record in the store; markers left without a record (a crash while closing) go."""
        async with asyncio.timeout(self.timeout_s):
            keys = set(await self.store.list(f"{FOLDER}/"))
        for key in sorted(keys):
            if key.endswith(MARKER) and key[: -len(MARKER)] + RECORD not in keys:
                async with asyncio.timeout(self.timeout_s):
                    await self.store.delete(key)
            elif key.endswith(RECORD) and (rec := await self._read_key(key)) is not None:
                yield Found(rec, key[: -len(RECORD)] + MARKER in keys)

    async def _read_key(self, key: str) -> OpenViolation | None:
        try:
            async with asyncio.timeout(self.timeout_s):
                data = await self.store.get(key)
        except ObjectNotFound:  # removed between the listing and now
            return None
        try:
            return decode(data)
        except BadRecord as exc:  # left in place for a person to look at; never fatal to the others
            if key not in self._bad:
                self._bad.add(key)
                log.error("skipping violation record %s: %s", key, exc)
            return None

    def _lock(self, violation_id: str) -> asyncio.Lock:
        lock = self._locks.get(violation_id)
        if lock is None:
            lock = self._locks[violation_id] = asyncio.Lock()
        return lock
