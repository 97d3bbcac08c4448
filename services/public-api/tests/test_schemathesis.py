"""schemathesis over the public API's OpenAPI spec, against a real uvicorn on loopback.

Every operation gets generated requests (valid and invalid), sent with the token of the caller it
is meant for: a parent bound to site ``s1`` for the parents' routes, a supervisor for ``/admin``
and ``/console``, nobody for the public ones. Half the generated site and camera ids are swapped
for the bound site's, so the bound paths run too and not only their 404s. Fails on any 5xx, on a
body that does not match its declared schema, on a wrong content type, and on an invalid
request that is accepted. Bounded: a few examples
per operation keep the whole run well under a minute and a half.
"""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from public_helpers import NOON, TENANT, FakeUpstream, staff_token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
)

from bk_public.service import PublicService
from bk_public.settings import PublicSettings
from bkcore.bus.inproc import InProcessBus
from bkcore.clock import FakeClock
from bkcore.objstore.local import LocalObjectStore
from bkcore.service import Runtime
from bkcore.settings import CoreSettings
from bkcore.testing.tokens import new_token_issuer

# negative_data_rejection: a request the schema says is invalid must get a 4xx, never a 2xx.
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance, negative_data_rejection]
MAX_EXAMPLES = 25
# An endless server-sent event stream: nothing for a request/response fuzzer to check.
SKIP_PATHS = {"/console/alarms/stream"}


class LoopbackServer:
    """The public-api with embedded adapters and a fake directory, in uvicorn on its own thread."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.svc: PublicService | None = None
        self._server: uvicorn.Server | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="public-api-schemathesis", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # surfaced by start(): a thread's error is otherwise lost
            self._error = exc

    async def _serve(self) -> None:
        clock = FakeClock(NOON)  # noon in Shanghai: sites are open, live view is allowed
        bus = InProcessBus(None)
        store = LocalObjectStore(
            self.data_dir / "objects", "s" * 32, self.base_url, clock=lambda: clock.now().timestamp()
        )
        runtime = Runtime(
            settings=CoreSettings(data_dir=self.data_dir),
            bus=bus,
            store=store,
            tokens=new_token_issuer(),
            clock=clock,
        )
        settings_ = PublicSettings(
            data_dir=self.data_dir, rate_user_per_min=10**6, rate_ip_per_min=10**6, rate_write_per_min=10**6
        )
        svc = PublicService(runtime, settings_, upstream=FakeUpstream())
        await bus.start()
        await svc.start()
        await svc.seed_demo(tenant_id=TENANT, site_ids=["s1", "s2"])
        self.svc = svc
        self._server = uvicorn.Server(
            uvicorn.Config(svc.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        )
        try:
            await self._server.serve()
        finally:
            await svc.stop()
            await bus.stop()

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not (self._server and self._server.started):
            if self._error or not self._thread.is_alive():
                raise RuntimeError(f"public-api did not start: {self._error!r}")
            if time.monotonic() > deadline:
                raise RuntimeError("public-api did not start within 30 s")
            time.sleep(0.05)

    def stop(self) -> None:
        if self._server:
            self._server.should_exit = True
        self._thread.join(timeout=15)


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    with tempfile.TemporaryDirectory(prefix="bk-schemathesis-") as tmp:
        srv = LoopbackServer(Path(tmp))
        srv.start()
        try:
            yield srv
        finally:
            srv.stop()


@pytest.fixture(scope="module")
def callers(server: LoopbackServer) -> dict[str, dict[str, str]]:
    """Headers per kind of caller: a parent bound to s1, a supervisor over the whole tenant."""
    assert server.svc is not None
    staff = staff_token(server.svc)
    with httpx.Client(base_url=server.base_url) as c:
        r = c.post("/auth/wx-login", json={"code": "fuzz-parent"})
        assert r.status_code == 200, r.text
        parent = {"Authorization": f"Bearer {r.json()['session_token']}"}
        r = c.post("/admin/sites/s1/invite-codes", json={}, headers=staff)
        assert r.status_code == 201, r.text
        r = c.post("/bindings", json={"invite_code": r.json()["code"]}, headers=parent)
        assert r.status_code == 201, r.text
    return {"parent": parent, "staff": staff, "public": {}}


def _spec() -> dict[str, object]:
    """The spec the app serves at /openapi.json, read from an app that is built but not started.

    (Loaded at import, not from a fixture: schemathesis' lazy fixture loader breaks on pytest 9.)
    """
    with tempfile.TemporaryDirectory(prefix="bk-openapi-") as tmp:
        core = CoreSettings(data_dir=Path(tmp))
        store = LocalObjectStore(Path(tmp) / "objects", "s" * 32, "http://spec")
        runtime = Runtime(settings=core, bus=InProcessBus(None), store=store, tokens=new_token_issuer())
        svc = PublicService(runtime, PublicSettings(data_dir=Path(tmp)), upstream=FakeUpstream())
        return svc.app.openapi()


schema = schemathesis.openapi.from_dict(_spec())


def _caller(path: str) -> str:
    if path.startswith(("/admin", "/console")):
        return "staff"
    if path.startswith(("/public", "/auth", "/healthz", "/readyz")):
        return "public"
    return "parent"


@schema.parametrize()
# CI runs the same examples every time (a red CI must mean a real regression); set
# BK_FUZZ_RANDOM=1 to explore fresh examples locally.
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    derandomize=os.environ.get("BK_FUZZ_RANDOM") != "1",
)
def test_no_server_errors_and_schema_conformance(case, callers, server) -> None:  # type: ignore[no-untyped-def]
    if case.path in SKIP_PATHS:
        return
    params = case.path_parameters or {}
    # Steer half the generated ids to the bound site so its routes run beyond the 404.
    if len(str(params.get("site_id", ""))) % 2 == 0 and "site_id" in params:
        params["site_id"] = "s1"
        if "camera_id" in params:
            params["camera_id"] = "s1-prep"
    case.call_and_validate(
        base_url=server.base_url, headers=callers[_caller(case.path)], checks=CHECKS, timeout=10
    )
