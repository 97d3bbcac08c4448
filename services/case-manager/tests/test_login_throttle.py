"""Staff login under attack: password guessing, a rotated X-Forwarded-For, and the token route that
hands other services their tokens. Each test is the attack, then the refusal it must get."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from cm_demo import DEMO
from cm_testkit import make_runtime
from pydantic import SecretStr

from bk_cases.service import CaseService, create_service
from bkcore.auth import CASE_MANAGER, PUBLIC_API, STREAM_GATEWAY, AuthError, Role, Scope
from bkcore.clock import FakeClock
from bkcore.service_tokens import TOKEN_PATH

CLIENT_SECRET = secrets.token_urlsafe(32)
RETIRING_SECRET = secrets.token_urlsafe(32)  # both accepted while the secret is rotated
INGRESS = "10.0.0.2"  # what the ingress appends; the client sends anything it likes to the left


@pytest.fixture
async def service(tmp_path: Path, clock: FakeClock) -> AsyncIterator[CaseService]:
    runtime, settings = make_runtime(tmp_path, clock)
    settings = settings.model_copy(
        update={
            "trusted_proxy_hops": 1,
            "login_ip_failures": 12,
            "service_client_secrets": {"public-api": [SecretStr(CLIENT_SECRET), SecretStr(RETIRING_SECRET)]},
        }
    )
    svc = create_service(runtime, settings)
    await svc.start()
    await runtime.bus.start()
    await svc.seed_demo(DEMO)
    try:
        yield svc
    finally:
        await runtime.bus.stop()
        await svc.stop()


def _login(username: str, password: str) -> dict[str, str]:
    return {"username": username, "password": password}


def _via_ingress(claimed: str, real: str = "198.51.100.7") -> dict[str, str]:
    return {"X-Forwarded-For": f"{claimed}, {real}"}


async def test_attack_sixty_wrong_passwords_then_the_right_one_is_refused(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    answers = [
        (
            await client.post(
                "/auth/login", json=_login("city", f"guess-{i}"), headers=_via_ingress(f"1.1.1.{i}")
            )
        )
        for i in range(60)
    ]
    codes = [r.status_code for r in answers]
    assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}, codes
    right = await client.post("/auth/login", json=_login("city", "demo-city"))
    assert right.status_code == 429, right.text
    assert int(right.headers["Retry-After"]) >= 1
    assert "access_token" not in right.text
    # The lock is for guessing, not forever: once it is over, the owner gets in, and is forgiven.
    clock.advance(timedelta(seconds=int(right.headers["Retry-After"]) + 1))
    ok = await client.post("/auth/login", json=_login("city", "demo-city"))
    assert ok.status_code == 200, ok.text
    assert (await client.post("/auth/login", json=_login("city", "nope"))).status_code == 401


async def test_attack_switching_tenant_or_case_does_not_start_a_fresh_count(
    client: httpx.AsyncClient,
) -> None:
    for i in range(5):
        params = {"tenant_id": "minghu"} if i % 2 else {}
        name = "CITY" if i % 3 else "city"
        assert (await client.post("/auth/login", json=_login(name, "x"), params=params)).status_code == 401
    assert (
        await client.post("/auth/login", json=_login("city", "demo-city"), params={"tenant_id": "minghu"})
    ).status_code == 429


async def test_attack_rotating_x_forwarded_for_does_not_reset_the_per_ip_limit(
    client: httpx.AsyncClient,
) -> None:
    """One address spraying many accounts, a new leftmost X-Forwarded-For each time: the ingress
    appended the real address, which is what is counted; the twelfth failure locks it."""
    for i in range(12):
        r = await client.post(
            "/auth/login", json=_login(f"nobody-{i}", "x"), headers=_via_ingress(f"203.0.113.{i}")
        )
        assert r.status_code == 401, (i, r.text)
    r = await client.post(
        "/auth/login", json=_login("admin", "demo-admin"), headers=_via_ingress("203.0.113.99")
    )
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    # Another client behind the same ingress is not locked out.
    other = await client.post(
        "/auth/login",
        json=_login("admin", "demo-admin"),
        headers=_via_ingress("203.0.113.99", real="198.51.100.8"),
    )
    assert other.status_code == 200, other.text


async def test_a_service_gets_its_scoped_token_with_its_client_secret(
    client: httpx.AsyncClient, service: CaseService
) -> None:
    body = {"tenant_id": "minghu"}
    assert (await client.post(TOKEN_PATH, json=body)).status_code == 401
    wrong = await client.post(TOKEN_PATH, json=body, auth=("public-api", CLIENT_SECRET[::-1]))
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith("Basic")
    assert (await client.post(TOKEN_PATH, json=body, auth=("ledger", CLIENT_SECRET))).status_code == 401
    unknown = await client.post(TOKEN_PATH, json={"tenant_id": "nowhere"}, auth=("public-api", CLIENT_SECRET))
    assert unknown.status_code == 404

    assert (await client.post(TOKEN_PATH, json=body, auth=("public-api", RETIRING_SECRET))).status_code == 200
    got = await client.post(TOKEN_PATH, json=body, auth=("public-api", CLIENT_SECRET))
    assert got.status_code == 200, got.text
    tokens = service.ctx.runtime.tokens
    me = tokens.verify(got.json()["access_token"], audience=STREAM_GATEWAY)
    assert me.role == Role.SERVICE and me.tenant_id == "minghu"
    assert me.scopes == {Scope.SITES_READ, Scope.CASES_READ, Scope.CAMERAS_READ, Scope.LEDGER_READ}
    with pytest.raises(AuthError, match="not for"):  # never for the public edge itself
        tokens.verify(got.json()["access_token"], audience=PUBLIC_API)
    # It reads sites, and may not act on a case.
    h = {"Authorization": f"Bearer {got.json()['access_token']}"}
    assert (await client.get("/sites", headers=h)).status_code == 200
    assert (await client.get("/org-units", headers=h)).status_code == 403

    parent = {"tenant_id": "minghu", "parent": {"subject": "p-1", "name": "Mum", "ttl_s": 3600}}
    session = await client.post(TOKEN_PATH, json=parent, auth=("public-api", CLIENT_SECRET))
    assert session.status_code == 200
    who = tokens.verify(session.json()["access_token"], audience=PUBLIC_API)
    assert who.role == Role.PARENT and who.subject == "p-1"
    with pytest.raises(AuthError, match="not for"):
        tokens.verify(session.json()["access_token"], audience=CASE_MANAGER)
    longer = {**parent, "parent": {**parent["parent"], "ttl_s": 10**9}}  # type: ignore[dict-item]
    assert (await client.post(TOKEN_PATH, json=longer, auth=("public-api", CLIENT_SECRET))).status_code == 422
