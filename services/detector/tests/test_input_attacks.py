"""The detector's HTTP API against the red team (#17.3, #17.10): its model is an operator's business,
and every input is bounded."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from bk_detector.service import DetectorService, create_service
from bk_detector.settings import DetectorSettings
from bk_detector.testing import ScriptedModel
from bkcore.auth import Principal, Role
from bkcore.bus.inproc import InProcessBus
from bkcore.objstore.local import LocalObjectStore
from bkcore.service import Runtime
from bkcore.testing.request_bounds import unbounded_numbers, unbounded_strings, unchecked_calendar
from bkcore.testing.tokens import new_token_issuer


@pytest.fixture
async def detector(
    settings: DetectorSettings, tmp_path
) -> AsyncIterator[tuple[DetectorService, httpx.AsyncClient]]:  # type: ignore[no-untyped-def]
    runtime = Runtime(settings=settings, bus=InProcessBus(), tokens=new_token_issuer(),
                      store=LocalObjectStore(tmp_path, "secret", "http://127.0.0.1"))  # fmt: skip
    service = create_service(runtime, settings, model=ScriptedModel())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=service.app), base_url="http://d") as c:
        yield service, c


def bearer(service: DetectorService, role: Role) -> dict[str, str]:
    token = service.runtime.tokens.issue(Principal(subject="u", tenant_id="t", role=role))
    return {"Authorization": f"Bearer {token}"}


async def test_the_model_is_not_told_to_strangers(detector) -> None:  # type: ignore[no-untyped-def]
    service, client = detector
    assert (await client.get("/model")).status_code == 401
    assert (await client.get("/model", headers=bearer(service, Role.STAFF))).status_code == 403
    assert (await client.get("/model", headers=bearer(service, Role.SUPERVISOR))).status_code == 403
    ok = await client.get("/model", headers=bearer(service, Role.PLATFORM_ADMIN))
    assert ok.status_code == 200 and ok.json()["version"] == ScriptedModel().version


async def test_attack_another_tenants_admin_switches_the_shared_model(detector, settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The detector pool serves every tenant of a deployment: a platform admin of a tenant that is not
    the operator's (``BK_OPERATOR_TENANT``) may neither read nor switch, roll back or shadow the model
    (403 naming the setting), and the model stays. With no operator tenant set, nobody's admin may."""
    service, client = detector
    other = service.runtime.tokens.issue(
        Principal(subject="a", tenant_id="riverton", role=Role.PLATFORM_ADMIN)
    )
    hers = {"Authorization": f"Bearer {other}"}
    attempts = [
        client.get("/model", headers=hers),
        client.get("/model/versions", headers=hers),
        client.post("/model/activate", json={"version": "evil-1"}, headers=hers),
        client.post("/model/rollback", headers=hers),
        client.post("/model/shadow", json={"version": "evil-1"}, headers=hers),
        client.delete("/model/shadow", headers=hers),
    ]
    for attempt in attempts:
        r = await attempt
        assert r.status_code == 403 and "BK_OPERATOR_TENANT" in r.json()["detail"], r.text
    assert service.model is not None and service.model.version == ScriptedModel().version
    assert service.shadow is None
    ok = await client.get("/model", headers=bearer(service, Role.PLATFORM_ADMIN))  # the operator's admin
    assert ok.status_code == 200, ok.text

    unset = settings.model_copy(update={"operator_tenant": "", "data_dir": tmp_path / "unset"})
    runtime = Runtime(settings=unset, bus=InProcessBus(), tokens=service.runtime.tokens,
                      store=LocalObjectStore(tmp_path / "unset", "secret", "http://127.0.0.1"))  # fmt: skip
    nobody = create_service(runtime, unset, model=ScriptedModel())
    transport = httpx.ASGITransport(app=nobody.app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://d") as c:
            r = await c.get("/model", headers=bearer(nobody, Role.PLATFORM_ADMIN))
    finally:
        await nobody.stop()
    assert r.status_code == 403 and "BK_OPERATOR_TENANT" in r.json()["detail"], r.text


def test_every_input_is_bounded(detector) -> None:  # type: ignore[no-untyped-def]
    app = detector[0].app
    assert unbounded_strings(app, {}) == []
    assert unbounded_numbers(app) == []
    assert unchecked_calendar(app) == []


@pytest.mark.parametrize(
    "body", [b'{"version": "\\ud800"}', b'{"version": "1.0\\u0000"}', b'{"version": "1", "sample_rate": NaN}']
)
async def test_hostile_model_requests_are_422(detector, body: bytes) -> None:  # type: ignore[no-untyped-def]
    service, client = detector
    headers = {**bearer(service, Role.PLATFORM_ADMIN), "content-type": "application/json"}
    assert (await client.post("/model/shadow", content=body, headers=headers)).status_code == 422
