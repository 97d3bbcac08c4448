"""Fault: ``kill -9`` of the embedded platform (``brightkitchen up``, every demo camera at 3 fps) the
moment a violation's evidence has been stored, then ``up`` again on the same data directory.

Embedded mode keeps everything in one process: SQLite files, the in-process bus's log, the object
directory. After the kill nothing that was handled may be lost (the cases are still there), every
STARTED event on the bus is one occurrence of one case (an event handled before the kill but not
committed is handled again and skipped by the inbox), no case is doubled, every event's snapshot is
in the object directory, and the restarted platform goes on catching violations by itself.

The record of what was published: before the first start the test joins ``detections.v1`` with a
consumer group of its own that does not consume while the platform runs, so the bus keeps every
event (it prunes only what every group has consumed); after the last stop that group reads them.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from datetime import UTC
from pathlib import Path

import httpx
import pytest
from fault_net import free_port
from fault_stack import detection_cases, wait_until
from fault_truth import CaseRow, Started, miscounted
from sqlalchemy import select

from bk_cases.cases.models import Case
from bk_cases.service import create_service as create_cases
from bk_cases.settings import CaseSettings
from bkcore.bus.base import Delivery
from bkcore.bus.inproc import InProcessBus
from bkcore.objstore.factory import make_object_store
from bkcore.runtime import build_runtime
from bkcore.settings import CoreSettings
from bkproto.events.v1.detections_pb2 import ViolationDetected, ViolationPhase
from brightkitchen import demo_data

pytestmark = [pytest.mark.faults, pytest.mark.e2e]
AUDIT_GROUP = "fault-suite-audit"
RAW_SUFFIX = "-raw.jpg"


def _up(data_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "brightkitchen.main",
        "up",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--sim-fps",
        "3",
    ]
    with log.open("ab") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


async def _read_published(data_dir: Path, *, register_only: bool = False) -> list[ViolationDetected]:
    """Join (``register_only``) or read ``detections.v1`` as the audit group, through the bus's API."""
    bus = InProcessBus(data_dir / "bus.sqlite")
    events: list[ViolationDetected] = []

    async def keep(delivery: Delivery) -> None:
        events.append(delivery.event)  # type: ignore[arg-type]

    bus.subscribe("detections.v1", AUDIT_GROUP, keep)
    await bus.start()
    try:
        seen, deadline = -1, time.monotonic() + 20
        while not register_only and len(events) != seen and time.monotonic() < deadline:
            seen = len(events)
            await asyncio.sleep(1.0)  # until a second passes with nothing new
        if register_only:
            await asyncio.sleep(0.5)  # its consumers take their starting offsets
    finally:
        await bus.stop()
    return events


async def _raw_snapshots(data_dir: Path) -> set[str]:
    store = make_object_store(CoreSettings(data_dir=data_dir, log_json=False))
    return {k for k in await store.list(f"{demo_data.TENANT_ID}/evidence/") if k.endswith(RAW_SUFFIX)}


async def _cases_in_db(data_dir: Path) -> list[CaseRow]:
    settings = CaseSettings(data_dir=data_dir, log_json=False)
    svc = create_cases(build_runtime(settings), settings)  # never started: it only reads rows
    try:
        async with svc.db.session() as s:
            rows = (await s.scalars(select(Case).where(Case.source == "detection"))).all()
        return [CaseRow(c.id, c.site_id, c.case_type, c.occurrences) for c in rows]
    finally:
        await svc.db.dispose()


async def _cases(api: str) -> list[CaseRow] | None:
    try:
        return await detection_cases(api)
    except (httpx.TransportError, AssertionError):
        return None  # not serving (yet)


async def _quiesce(base: str) -> None:
    """Disable every camera (the registry API, as an operator would): no new violations."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        login = await client.post(
            "/api/cases/auth/login", json={"username": "admin", "password": "demo-admin"}
        )
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        for site in demo_data.SITES:
            for cam in site.cameras:
                r = await client.patch(
                    f"/api/gateway/v1/cameras/{cam.id}", json={"enabled": False}, headers=headers
                )
                assert r.status_code == 200, r.text


async def test_embedded_platform_killed_under_load(tmp_path: Path) -> None:
    data, log, port = tmp_path / "var", tmp_path / "up.log", free_port()
    base = f"http://127.0.0.1:{port}"
    api = f"{base}/api/cases"

    def tail() -> str:
        return log.read_text(errors="replace")[-4000:]

    await _read_published(data, register_only=True)
    proc = _up(data, port, log)
    try:

        async def a_case() -> bool:
            assert proc.poll() is None, tail()
            return bool(await _cases(api))

        await wait_until(a_case, 120, "no case from a detection", tail)
        handled = {c.case_id: c.occurrences for c in await detection_cases(api)}  # all kept after the kill
        known = len(await _raw_snapshots(data))

        async def new_evidence() -> bool:  # a violation mid-delivery: its snapshot stored, its event not yet
            return len(await _raw_snapshots(data)) > known

        await wait_until(new_evidence, 90, "no new violation's evidence was stored", tail, poll_s=0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)

        proc = _up(data, port, log)

        async def counting_again() -> bool:  # the restarted platform handles violations by itself
            assert proc.poll() is None, tail()
            cases = await _cases(api)
            return cases is not None and sum(c.occurrences for c in cases) > sum(handled.values())

        await wait_until(counting_again, 150, "the restarted platform counted no violation", tail, poll_s=2.0)
        await _quiesce(base)
        await asyncio.sleep(5.0)  # what is on its way lands: evidence, events, cases
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                code = await asyncio.to_thread(proc.wait, 60)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
            assert code == 0, tail()

    published = [e for e in await _read_published(data) if e.phase == ViolationPhase.VIOLATION_PHASE_STARTED]
    started = [
        Started(
            e.violation_id,
            e.meta.event_id,
            e.site_id,
            e.camera_id,
            e.violation_type,
            e.started_at.ToDatetime(tzinfo=UTC),
        )
        for e in published
    ]
    cases = await _cases_in_db(data)
    assert published, tail()
    assert miscounted(started, cases) == []
    snapshots = await _raw_snapshots(data)
    assert [e.violation_id for e in published if e.raw_snapshot_key not in snapshots] == []
    after = {c.case_id: c.occurrences for c in cases}
    assert all(after.get(case_id, 0) >= n for case_id, n in handled.items()), (handled, after)
