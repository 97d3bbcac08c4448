"""Killing the case-manager mid-stream (SIGKILL) and restarting it loses no detection and creates
no duplicate case — on the Kafka protocol and PostgreSQL, with the service as its own process."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bk_cases.cases.models import Case
from bk_cases.service import create_service
from bk_cases.settings import CaseSettings
from bkcore.bus.base import new_meta
from bkcore.bus.kafka import KafkaBus
from bkcore.runtime import build_runtime
from bkcore.settings import load_settings
from bkcore.testing.s3 import S3Server
from bkcore.testing.tokens import issuer_env, new_token_issuer
from bkproto.events.v1.detections_pb2 import ViolationDetected, ViolationPhase
from brightkitchen import demo_data

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
TYPES = ("rodent", "smoking", "no_mask")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(tmp: Path, pg_url: str, bootstrap: str, s3: S3Server) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BK_")}
    env.update(
        BK_MODE="production",
        BK_DATABASE_URL=pg_url,
        BK_BUS="kafka",
        BK_KAFKA_BOOTSTRAP=bootstrap,
        BK_OBJECT_STORE="s3",
        BK_S3_ENDPOINT=s3.endpoint,
        BK_S3_ACCESS_KEY=s3.access_key,
        BK_S3_SECRET_KEY=s3.secret_key,
        BK_S3_BUCKET="bk-kill-test",
        BK_DATA_DIR=str(tmp),
        BK_HTTP_PORT=str(_free_port()),
        **issuer_env(new_token_issuer()),  # the case-manager signs: it alone holds the private key
        BK_URL_SIGNING_SECRET=secrets.token_urlsafe(32),
        BK_AUDIT_KEY=secrets.token_hex(32),  # the audit chain's key (production refuses to start without)
        BK_PHONE_CHANNELS_OFF="true",  # no internet egress here: no phone channel, said explicitly
        BK_LOG_JSON="false",
    )
    return env


def _detections(n: int) -> list[ViolationDetected]:
    sites = [s for s in demo_data.SITES if s.cameras]
    start = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
    out = []
    for i in range(n):
        site = sites[i % len(sites)]
        cam = site.cameras[0]
        when = start + timedelta(seconds=i)
        e = ViolationDetected(
            meta=new_meta(tenant_id=demo_data.TENANT_ID, key=cam.id, producer="test", occurred_at=when),
            violation_id=str(uuid.uuid4()),
            phase=ViolationPhase.VIOLATION_PHASE_STARTED,
            violation_type=TYPES[(i // len(sites)) % len(TYPES)],
            site_id=site.id,
            camera_id=cam.id,
            zone=cam.zone,
            score=0.9,
        )
        e.started_at.FromDatetime(when)
        out.append(e)
    return out


async def _counts(svc) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    async with svc.db.session() as s:
        row = (
            await s.execute(
                select(func.count(), func.coalesce(func.sum(Case.occurrences), 0)).select_from(Case)
            )
        ).one()
    return int(row[0]), int(row[1])


async def test_kill_mid_stream_loses_nothing_and_duplicates_nothing(
    tmp_path: Path, pg_url: str, kafka_bootstrap: str, s3_server: S3Server
) -> None:
    env = _env(tmp_path, pg_url, kafka_bootstrap, s3_server)
    saved = {k: os.environ.get(k) for k in env if k.startswith("BK_")}
    os.environ.update({k: v for k, v in env.items() if k.startswith("BK_")})
    try:
        settings = load_settings(CaseSettings)
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    observer = create_service(build_runtime(settings), settings)  # reads the DB; never consumes
    await observer.migrate()
    await observer.seed_demo(demo_data)

    events = _detections(400)
    expected_cases = len({(e.site_id, e.violation_type) for e in events})
    producer = KafkaBus(kafka_bootstrap, "kill-test-producer")
    await producer.start()
    log = (tmp_path / "case-manager.log").open("ab")

    def spawn() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "bk_cases"], env=env, stdout=log, stderr=log)

    proc = spawn()
    try:
        for e in events[:20]:
            await producer.publish("detections.v1", e)
        for _ in range(240):  # the consumer is up and has joined its group once it handled one
            if (await _counts(observer))[1] > 0:
                break
            assert proc.poll() is None, (tmp_path / "case-manager.log").read_text()[-3000:]
            await asyncio.sleep(0.5)
        for e in events[20:220]:  # a burst, and kill -9 while the consumer is working through it
            await producer.publish("detections.v1", e)
        await asyncio.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        handled_at_kill = (await _counts(observer))[1]
        for e in events[220:]:  # the stream goes on while the consumer is dead
            await producer.publish("detections.v1", e)
        for e in events[:50]:  # producer retries after the crash: the same events again
            await producer.publish("detections.v1", e)
        proc = spawn()
        for _ in range(240):
            if await _counts(observer) == (expected_cases, len(events)):
                break
            assert proc.poll() is None, (tmp_path / "case-manager.log").read_text()[-3000:]
            await asyncio.sleep(0.5)
        assert await _counts(observer) == (expected_cases, len(events)), f"killed at {handled_at_kill}"
        await asyncio.sleep(2.0)  # nothing more trickles in afterwards either
        assert await _counts(observer) == (expected_cases, len(events))
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)
        await producer.stop()
        await observer.db.dispose()
