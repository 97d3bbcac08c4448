"""The detector's authorisation matrix (``bkcore.testing.authz``). Its routes are the model's, which
belongs to no site: the matrix is role × tenant. The detector pool serves every tenant of a
deployment, so only the operator may read or switch its model — a platform admin of the operator
tenant (``BK_OPERATOR_TENANT``, here the home tenant), or a service identity holding ``models:admin``
(the public-api's holds no detector audience at all: 401). Another tenant's platform admin and every
other staff role get a 403, and a parent's token (public-api only) a 401.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bk_detector.model.artifact import SHIPPED
from bk_detector.service import DetectorService, create_service
from bk_detector.settings import DetectorSettings
from bk_detector.testing import ScriptedModel
from bkcore.auth import DETECTOR, Scope
from bkcore.bus.inproc import InProcessBus
from bkcore.objstore.local import LocalObjectStore
from bkcore.service import Runtime
from bkcore.testing.authz import ADMIN, DEMO_PLACES, Caller, Route, allow, missing_routes, run_matrix
from bkcore.testing.authz import standard_callers as callers_of
from bkcore.testing.tokens import new_token_issuer, service_principal

OPS = "ops"  # an all-tenant operators' service identity holding models:admin
OPERATORS = allow(ADMIN, OPS)  # not OTHER_ADMIN: another tenant's admin
VERSION = "1.0"
ONLY_403 = frozenset({403})


class World:
    def __init__(self, svc: DetectorService, client: httpx.AsyncClient, callers: list[Caller]) -> None:
        self.svc, self.client, self.callers = svc, client, callers

    async def switched_once(self) -> None:  # a previous model to roll back to
        await self.svc.activate("scripted-2", model=ScriptedModel())

    async def shadowing(self) -> None:  # a shadow to report on or stop
        await self.svc.start_shadow("scripted-shadow", model=ScriptedModel())

    def table(self) -> list[Route]:
        version = {"json": {"version": VERSION}}
        return [
            Route("GET /model", OPERATORS, refusal=ONLY_403),
            Route("GET /model/versions", OPERATORS, refusal=ONLY_403),
            Route("POST /model/activate", OPERATORS, refusal=ONLY_403, send=version),
            Route("POST /model/rollback", OPERATORS, refusal=ONLY_403, prepare=self.switched_once),
            Route("POST /model/shadow", OPERATORS, refusal=ONLY_403, send=version),
            Route("GET /model/shadow", OPERATORS, refusal=ONLY_403, prepare=self.shadowing),
            Route("DELETE /model/shadow", OPERATORS, refusal=ONLY_403, prepare=self.shadowing),
        ]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    store = LocalObjectStore(tmp_path / "objects", "signing-secret", "http://127.0.0.1:8000")
    settings = DetectorSettings(
        data_dir=tmp_path,
        grpc_port=0,
        device="cpu",
        max_batch_size=4,
        max_wait_ms=2,
        operator_tenant=DEMO_PLACES.own.tenant_id,
    )
    tokens = new_token_issuer()
    bus = InProcessBus()
    svc = create_service(Runtime(settings=settings, bus=bus, store=store, tokens=tokens), settings,
                         model=ScriptedModel())  # fmt: skip
    art = tmp_path / "artefact"
    shutil.copytree(SHIPPED, art)
    meta = json.loads((art / "model.json").read_text())
    (art / "model.json").write_text(json.dumps({**meta, "version": VERSION}))
    await svc.registry.publish(art)
    await bus.start()
    await svc.start()
    ops = tokens.issue(service_principal(OPS, "*", Scope.MODELS_ADMIN), audience=[DETECTOR])
    callers = [
        *callers_of(tokens, DEMO_PLACES, audience=DETECTOR),
        Caller(OPS, {"Authorization": f"Bearer {ops}"}),
    ]
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=svc.app), base_url="http://d") as c:
            yield World(svc, c, callers)
    finally:
        await svc.stop()
        await bus.stop()


async def test_every_route_has_a_row(world: World) -> None:
    assert missing_routes(world.svc.app, world.table()) == []


async def test_authorisation_matrix(world: World) -> None:
    failures = await run_matrix(world.client, world.table(), world.callers)
    assert failures == [], "\n".join(failures)
