"""One issuer: the case-manager signs; the public-api, which holds only the public key, gets its
own tokens and parents' sessions from it over HTTP, and cannot make a token any service accepts.

The case-manager runs on a real loopback server (the issuer's ``POST /auth/tokens``); the public-api
is built as production builds it from ``BK_JWT_PUBLIC_KEYS`` (no private key in its process). Then
the attacks: every token the public-api's process could make with what it holds — its public key
as an HMAC secret (algorithm confusion), the old shared HS256 secret, ``alg=none``, a key pair of
its own — sent to the case-manager and to the public-api itself.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import jwt
import pytest
import uvicorn
from pydantic import SecretStr

from bk_cases.service import CaseService
from bk_cases.service import create_service as create_cases
from bk_cases.settings import CaseSettings
from bk_public.service import PublicService
from bk_public.settings import PublicSettings
from bkcore.auth import CASE_MANAGER, PUBLIC_API, STAFF_AUDIENCE, Principal, Role, TokenIssuer
from bkcore.bus.inproc import InProcessBus
from bkcore.keys import generate_private_key, key_id, public_key_pem
from bkcore.objstore.local import LocalObjectStore
from bkcore.runtime import token_verifier
from bkcore.service import Runtime
from bkcore.service_tokens import HttpTokenSource
from bkcore.testing.tokens import new_token_issuer
from brightkitchen import demo_data

pytestmark = pytest.mark.e2e
CLIENT_SECRET = secrets.token_urlsafe(32)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _store(root: Path) -> LocalObjectStore:
    return LocalObjectStore(root / "objects", secrets.token_urlsafe(32), "http://objects")


@pytest.fixture
async def issuer_url(tmp_path: Path) -> AsyncIterator[tuple[str, TokenIssuer, CaseService]]:
    issuer = new_token_issuer()
    settings = CaseSettings(data_dir=tmp_path / "cm", service_client_secrets={"public-api": CLIENT_SECRET})
    runtime = Runtime(settings=settings, bus=InProcessBus(None), store=_store(tmp_path / "cm"), tokens=issuer)
    cases = create_cases(runtime, settings)
    await cases.start()
    await runtime.bus.start()
    await cases.seed_demo(demo_data)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(cases.app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(400):
            if server.started or task.done():
                break
            await asyncio.sleep(0.025)
        assert server.started, "the case-manager did not start on loopback"
        yield f"http://127.0.0.1:{port}", issuer, cases
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
        await runtime.bus.stop()
        await cases.stop()


def _hs256(claims: dict[str, object], key: bytes, kid: str) -> str:
    """An HS256 token signed by hand (PyJWT rightly refuses to use a PEM as an HMAC key)."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    body = b64(json.dumps(claims).encode())
    sig = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


async def test_the_public_edge_cannot_mint_and_gets_its_tokens_from_the_issuer(
    tmp_path: Path, issuer_url: tuple[str, TokenIssuer, CaseService]
) -> None:
    url, issuer, _ = issuer_url
    public_pem = public_key_pem(issuer.public_key)
    settings = PublicSettings(
        data_dir=tmp_path / "pub",
        jwt_public_keys=public_pem,
        cases_url=url,
        service_client_secret=SecretStr(CLIENT_SECRET),
    )
    runtime = Runtime(
        settings=settings,
        bus=InProcessBus(None),
        store=_store(tmp_path / "pub"),
        tokens=token_verifier(settings),
    )
    assert runtime.issuer is None, "the public-api's process must hold no signing key"
    pub = PublicService(runtime, settings)
    assert isinstance(pub.tokens, HttpTokenSource)
    await runtime.bus.start()
    await pub.start()
    try:
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=pub.app), base_url="http://pub") as edge,
            httpx.AsyncClient(base_url=url, timeout=10) as cm,
        ):
            # A parent logs in at the edge; the session was signed by the issuer, for the edge alone.
            login = await edge.post("/auth/wx-login", json={"code": "mum-1"})
            assert login.status_code == 200, login.text
            session = login.json()["session_token"]
            assert jwt.get_unverified_header(session)["kid"] == issuer.kid
            assert (
                await edge.get("/bindings", headers={"Authorization": f"Bearer {session}"})
            ).status_code == 200
            assert (await cm.get("/sites", headers={"Authorization": f"Bearer {session}"})).status_code == 401

            # The edge's own service token, from the issuer: reads sites, nothing staff-only.
            own = {"Authorization": f"Bearer {await pub.tokens.service_token(demo_data.TENANT_ID)}"}
            assert (await cm.get("/sites", headers=own)).status_code == 200
            assert (await cm.get("/org-units", headers=own)).status_code == 403

            # Everything the edge's process could sign with, claiming to be a platform admin.
            now = int(time.time())
            claims = {
                "sub": "evil",
                "tid": demo_data.TENANT_ID,
                "role": "platform_admin",
                "org": "/",
                "iss": "bright-kitchen",
                "aud": list(STAFF_AUDIENCE),
                "iat": now,
                "exp": now + 600,
            }
            own_key = TokenIssuer(generate_private_key())
            forgeries = {
                "public key as HMAC secret": _hs256(claims, public_pem.encode(), issuer.kid),
                "old shared HS256 secret": _hs256(claims, b"test-jwt-secret-0123456789abcdefgh", issuer.kid),
                "alg none": jwt.encode(claims, None, algorithm="none", headers={"kid": issuer.kid}),
                "own key pair": own_key.issue(Principal("evil", demo_data.TENANT_ID, Role.PLATFORM_ADMIN)),
                "own key, issuer's kid": jwt.encode(
                    claims, generate_private_key(), algorithm="EdDSA", headers={"kid": issuer.kid}
                ),
            }
            assert key_id(own_key.public_key) != issuer.kid
            for what, token in forgeries.items():
                h = {"Authorization": f"Bearer {token}"}
                assert (await cm.get("/sites", headers=h)).status_code == 401, what
                assert (await cm.get("/me", headers=h)).status_code == 401, what
                assert (await edge.get("/console/cases", headers=h)).status_code == 401, what
                for audience in (CASE_MANAGER, PUBLIC_API):
                    with pytest.raises(Exception, match="invalid token"):
                        runtime.tokens.verify(token, audience=audience)
    finally:
        await pub.stop()
        await runtime.bus.stop()
