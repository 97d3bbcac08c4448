"""The capture path in production shape, one process per service, for the fault tests.

    detector (python -m bk_detector)  ◄─gRPC─  tap  ◄─gRPC─  gateway (python -m bk_gateway)
        │ evidence → object store, detections.v1 → Kafka protocol → case-manager (python -m bk_cases)

Each service runs as its own process on the servers the test hands in (PostgreSQL, a Kafka-protocol
broker, S3), with keys made for the test, so a fault hits it the way it would hit a pod: a process
killed, a server gone, a link cut. Two simulated cameras of the demo's lakeside school play
its scripted violations (a cook without a hat or gloves, a rat in the storage room) in 60 s loops.

``Stack.audit()`` holds the platform to the fault suite's rules (fault_truth): every violation the
detector answered has a STARTED event, every STARTED event is one occurrence in one case.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from fault_net import free_port
from fault_tap import DetectorTap
from fault_truth import Answered, CaseRow, Started, miscounted, unpublished
from prometheus_client.parser import text_string_to_metric_families

from bk_cases.service import create_service as create_cases
from bk_cases.settings import CaseSettings
from bkcore.auth import Principal, Role, TokenIssuer
from bkcore.bus.base import TOPICS, dead_letter_topic
from bkcore.runtime import build_runtime
from bkcore.testing.s3 import S3Server
from bkcore.testing.tokens import issuer_env, new_token_issuer, verifier_env
from bkproto.events.v1.detections_pb2 import ViolationDetected, ViolationPhase
from brightkitchen import demo_data

TENANT = demo_data.TENANT_ID
CAMERAS = ("lakeside-primary-prep", "lakeside-primary-storage")
START_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class Servers:
    """Where the stack's adapters point. Each stack takes a bucket of its own on the S3 server (the
    detector's journal lives there: a stack must never recover another one's violations)."""

    database_url: str
    kafka_bootstrap: str
    s3: S3Server
    kafka_idempotence: bool = True  # False on Tansu, which has no idempotent producers
    bucket: str = field(default_factory=lambda: f"bk-faults-{secrets.token_hex(4)}")


@dataclass(frozen=True)
class Credentials:
    """The keys a deployment hands its services, made for one test: the token key pair (the
    case-manager alone signs; the others get the public key) and the URL-signing key."""

    issuer: TokenIssuer = field(default_factory=new_token_issuer)
    url_secret: str = field(default_factory=lambda: secrets.token_hex(32))
    audit_key: str = field(default_factory=lambda: secrets.token_hex(32))  # the case-manager's alone

    def env(self, *, signs: bool) -> dict[str, str]:
        if not signs:
            return {**verifier_env(self.issuer), "BK_URL_SIGNING_SECRET": self.url_secret}
        keys = {**issuer_env(self.issuer), "BK_AUDIT_KEY": self.audit_key}
        # No internet egress here, as on a government network: no phone channel, said explicitly.
        return {**keys, "BK_URL_SIGNING_SECRET": self.url_secret, "BK_PHONE_CHANNELS_OFF": "true"}

    def admin_token(self) -> str:
        return self.issuer.issue(
            Principal(subject="fault-suite", tenant_id=TENANT, role=Role.PLATFORM_ADMIN, org_path="/")
        )


class ServiceProcess:
    """One service as its own process; ``kill`` and ``start`` again as Kubernetes would."""

    def __init__(self, name: str, module: str, env: dict[str, str], log_path: Path) -> None:
        self.name, self.module, self.env, self.log_path = name, module, env, log_path
        self.http_port = int(env["BK_HTTP_PORT"])
        self.base_url = f"http://127.0.0.1:{self.http_port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        assert not self.alive(), f"{self.name} is already running"
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start {self.starts + 1} at {datetime.now(UTC):%H:%M:%S.%f} =====\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.module],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.starts += 1

    def kill(self) -> None:
        """``kill -9``: no goodbye, no flush, no leaving the consumer group."""
        if self.alive():
            assert self.proc is not None
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self, grace_s: float = 20.0) -> None:
        if not self.alive():
            return
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    async def readiness(self) -> tuple[int, dict[str, Any]]:
        """(status code, body) of /readyz; (0, {}) while nothing answers."""
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                r = await client.get(f"{self.base_url}/readyz")
            return r.status_code, r.json()
        except (httpx.TransportError, ValueError):
            return 0, {}

    async def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        body: dict[str, Any] = {}
        while time.monotonic() < deadline:
            assert self.alive(), (
                f"{self.name} exited ({self.proc and self.proc.returncode}):\n{self.log_tail()}"
            )
            code, body = await self.readiness()
            if code == 200:
                return
            await asyncio.sleep(0.3)
        raise AssertionError(f"{self.name} not ready within {timeout_s} s: {body}\n{self.log_tail()}")

    async def metric(self, name: str, **labels: str) -> float:
        """The sum of the samples called ``name`` with these labels, from /metrics."""
        async with httpx.AsyncClient(timeout=10) as client:
            text = (await client.get(f"{self.base_url}/metrics")).text
        return sum(
            s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        )


def service_env(
    servers: Servers,
    data_dir: Path,
    credentials: Credentials,
    *,
    signs: bool = False,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """A service's environment in production mode on ``servers``, with a free HTTP port; ``signs``:
    the case-manager, which issues tokens."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BK_")}
    env.update(
        BK_MODE="production",
        BK_DATABASE_URL=servers.database_url,
        BK_BUS="kafka",
        BK_KAFKA_BOOTSTRAP=servers.kafka_bootstrap,
        BK_KAFKA_IDEMPOTENCE=str(servers.kafka_idempotence).lower(),
        BK_OBJECT_STORE="s3",
        BK_S3_ENDPOINT=servers.s3.endpoint,
        BK_S3_ACCESS_KEY=servers.s3.access_key,
        BK_S3_SECRET_KEY=servers.s3.secret_key,
        BK_S3_BUCKET=servers.bucket,
        BK_DATA_DIR=str(data_dir),
        BK_HTTP_PORT=str(free_port()),
        BK_LOG_JSON="false",
    )
    env.update(credentials.env(signs=signs))
    env.update(extra or {})
    return env


async def seed_directory(servers: Servers, data_dir: Path, credentials: Credentials) -> None:
    """The demo's tenant, sites and users, as the case-manager's own seeding writes them."""
    env = service_env(servers, data_dir, credentials, signs=True)
    settings = CaseSettings(
        **{k.removeprefix("BK_").lower(): v for k, v in env.items() if k.startswith("BK_")}
    )
    seeder = create_cases(build_runtime(settings), settings)  # never started: it only writes rows
    try:
        await seeder.migrate()
        await seeder.seed_demo(demo_data)
    finally:
        await seeder.db.dispose()


async def detection_cases(cases_api: str) -> list[CaseRow]:
    """The detection cases, from the case-manager's API at ``cases_api`` (as a supervisor sees them)."""
    async with httpx.AsyncClient(base_url=cases_api, timeout=30) as client:
        login = await client.post("/auth/login", json={"username": "city", "password": "demo-city"})
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        rows: list[CaseRow] = []
        while True:
            params = {"source": "detection", "limit": 500, "offset": len(rows)}
            r = await client.get("/cases", headers=headers, params=params)
            assert r.status_code == 200, r.text
            items = r.json()["items"]
            rows += [CaseRow(c["id"], c["site_id"], c["case_type"], c["occurrences"]) for c in items]
            if len(items) < 500:
                return rows


@dataclass
class Stack:
    workdir: Path
    servers: Servers
    detector_env: dict[str, str] = field(default_factory=dict)
    gateway_env: dict[str, str] = field(default_factory=dict)
    cases_env: dict[str, str] = field(default_factory=dict)
    credentials: Credentials = field(default_factory=Credentials)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        grpc_port = free_port()
        self.detector = ServiceProcess(
            "detector",
            "bk_detector",
            self._env(
                {
                    "BK_GRPC_PORT": str(grpc_port),
                    "BK_DEVICE": "cpu",
                    # Violations end 5 s after the scene stops showing them (not 30 s), so each 60 s loop of
                    # the scripted scenes raises new ones: recovery is seen within a loop.
                    "BK_END_AFTER_S": "5",
                    **self.detector_env,
                }
            ),
            self.workdir / "detector.log",
        )
        self.tap = DetectorTap(f"127.0.0.1:{grpc_port}")
        self.gateway = ServiceProcess(
            "gateway",
            "bk_gateway",
            self._env(
                {
                    "BK_DETECTOR_ENDPOINTS": self.tap.address,
                    "BK_GATEWAY_ID": "gw-0",
                    "BK_SIM_FPS": "2",
                    **self.gateway_env,
                }
            ),
            self.workdir / "gateway.log",
        )
        self.cases = ServiceProcess(
            "case-manager",
            "bk_cases",
            self._env(self.cases_env, signs=True),
            self.workdir / "case-manager.log",
        )
        self.processes = (self.detector, self.gateway, self.cases)
        self._token = self.credentials.admin_token()

    def _env(self, extra: dict[str, str], *, signs: bool = False) -> dict[str, str]:
        return service_env(self.servers, self.workdir / "data", self.credentials, signs=signs, extra=extra)

    # --- lifecycle -------------------------------------------------------------------------------

    async def __aenter__(self) -> Stack:
        try:
            await seed_directory(self.servers, self.workdir / "data", self.credentials)
            self.tap.__enter__()
            for process in self.processes:
                process.start()
            for process in self.processes:
                await process.wait_ready()
            await self._register_cameras()
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        for process in self.processes:
            await asyncio.to_thread(process.stop)
        self.tap.__exit__()

    async def _register_cameras(self) -> None:
        """The two cameras, through the gateway's registry API as an operator would add them."""
        org_paths = {unit.id: unit.path for unit in demo_data.ORG_UNITS}
        async with httpx.AsyncClient(
            base_url=self.gateway.base_url, timeout=30, headers={"Authorization": f"Bearer {self._token}"}
        ) as client:
            for site in demo_data.SITES:
                for cam in site.cameras:
                    if cam.id not in CAMERAS:
                        continue
                    body = {
                        "id": cam.id,
                        "tenant_id": TENANT,
                        "site_id": site.id,
                        "org_path": org_paths[site.org_id],
                        "zone": cam.zone,
                        "name": cam.name,
                        "source_url": f"sim:{cam.scenario}",
                        "sample_fps": 2.0,
                        "profile": {"timezone": demo_data.TIMEZONE},
                    }
                    r = await client.put(f"/v1/cameras/{cam.id}", json=body)
                    assert r.status_code == 200, r.text

    async def violation_raised(self, timeout_s: float = 90.0) -> None:
        """Until the detector answers a frame that raises a violation: a fault injected now hits a
        violation on its way (evidence being stored, STARTED being published and consumed)."""
        raised = threading.Event()
        self.tap.on_raised = lambda _frame, _type: raised.set()

        async def seen() -> bool:
            return raised.is_set()

        try:
            await wait_until(seen, timeout_s, "the detector raised no violation", self.logs, poll_s=0.05)
        finally:
            self.tap.on_raised = None

    # --- what happened -----------------------------------------------------------------------------

    async def ai_status(self) -> dict[str, Any]:
        """The gateway's GET /v1/ai/status (what the console's "AI not running" banner shows)."""
        async with httpx.AsyncClient(base_url=self.gateway.base_url, timeout=10) as client:
            r = await client.get("/v1/ai/status", headers={"Authorization": f"Bearer {self._token}"})
        assert r.status_code == 200, r.text
        return dict(r.json())

    def answered(self) -> list[Answered]:
        return [Answered(f.camera_id, f.captured_at, f.violations) for f in self.tap.answered()]

    async def cases_now(self) -> list[CaseRow]:
        return await detection_cases(self.cases.base_url)

    async def started(self) -> list[Started]:
        """Every STARTED event on detections.v1 so far."""
        out = []
        for value in await read_topic(self.servers.kafka_bootstrap, "detections.v1"):
            e = ViolationDetected.FromString(value)
            if e.phase == ViolationPhase.VIOLATION_PHASE_STARTED:
                out.append(
                    Started(
                        e.violation_id,
                        e.meta.event_id,
                        e.site_id,
                        e.camera_id,
                        e.violation_type,
                        e.started_at.ToDatetime(tzinfo=UTC),
                    )
                )
        return out

    async def dead_letters(self) -> dict[str, int]:
        return await dead_letters(self.servers.kafka_bootstrap)

    async def audit(self) -> list[str]:
        started = await self.started()
        return unpublished(self.answered(), started) + miscounted(started, await self.cases_now())

    async def settle(self, timeout_s: float = 45.0) -> list[str]:
        """Audit until it is clean (events still in flight get their time) or the time is up."""
        deadline = time.monotonic() + timeout_s
        while True:
            problems = await self.audit()
            if not problems or time.monotonic() > deadline:
                return problems
            await asyncio.sleep(2.0)

    async def wait_recovered(self, since: datetime, timeout_s: float = 90.0) -> None:
        """Recovery, end to end: a violation raised after ``since`` is published and counted in a case,
        and the audit is clean."""
        problems = ["no violation raised yet"]

        async def recovered() -> bool:
            nonlocal problems
            fresh = [s for s in await self.started() if s.started_at > since]
            problems = await self.audit() if fresh else [f"no violation raised after {since:%H:%M:%S}"]
            return not problems

        def explain() -> str:
            return "\n".join(problems) + "\n" + self.logs()

        await wait_until(recovered, timeout_s, "the capture path did not recover cleanly:", explain)

    def starts(self) -> dict[str, int]:
        """How many times each process was started so far (a test's "before")."""
        return {p.name: p.starts for p in self.processes}

    def assert_survivors(self, before: dict[str, int], *survivors: ServiceProcess) -> None:
        """Recovered without a restart: each survivor still runs the process it ran ``before``."""
        for p in survivors:
            assert p.alive() and p.starts == before[p.name], (
                f"{p.name} was restarted or died:\n{p.log_tail()}"
            )

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.log_tail(2500)}" for p in self.processes)


async def wait_until(
    check: Callable[[], Awaitable[bool]],
    timeout_s: float,
    what: str,
    context: Callable[[], str] | None = None,
    poll_s: float = 1.0,
) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} (waited {timeout_s:.0f} s)\n{context() if context else ''}")
        await asyncio.sleep(poll_s)


async def dead_letters(bootstrap: str) -> dict[str, int]:
    """How many events each dead-letter topic holds (an outage must leave them empty)."""
    counts = {}
    for topic in TOPICS:
        n = len(await read_topic(bootstrap, dead_letter_topic(topic)))
        if n:
            counts[dead_letter_topic(topic)] = n
    return counts


async def read_topic(bootstrap: str, topic: str, timeout_s: float = 20.0) -> list[bytes]:
    """Every value on ``topic`` from the beginning to its current end, outside any consumer group."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=10_000,
    )
    await consumer.start()
    try:
        if topic not in await consumer.topics():
            return []
        consumer.subscribe([topic])  # without a group: every partition, assigned at the first fetch
        out: list[bytes] = []
        async with asyncio.timeout(timeout_s):
            while not consumer.assignment():
                for records in (await consumer.getmany(timeout_ms=100)).values():
                    out += [r.value for r in records if r.value is not None]
            parts = list(consumer.assignment())
            ends = await consumer.end_offsets(parts)
            while [tp for tp in parts if await consumer.position(tp) < ends[tp]]:
                for records in (await consumer.getmany(*parts, timeout_ms=200)).values():
                    out += [r.value for r in records if r.value is not None]
        return out
    finally:
        await consumer.stop()
