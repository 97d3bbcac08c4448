"""Parents' real login: the mini-program's ``wx.login()`` code exchanged at WeChat's
``sns/jscode2session``, against a fake of WeChat on loopback that checks the request the way WeChat
documents it (GET, exactly ``appid``, ``secret``, ``js_code``, ``grant_type=authorization_code``) and
answers the way WeChat does (JSON served as ``text/plain``; ``errcode`` on failure; a code works once).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from public_helpers import TENANT, FakeUpstream
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bk_public.service import PublicService
from bk_public.settings import PublicSettings
from bkcore.bus.inproc import InProcessBus
from bkcore.clock import FakeClock
from bkcore.objstore.local import LocalObjectStore
from bkcore.service import Runtime
from bkcore.settings import CoreSettings
from bkcore.testing.tokens import new_token_issuer

APP_ID, APP_SECRET = "wx0123456789abcdef", "f" * 32
WECHAT_PARAMS = {"appid", "secret", "js_code", "grant_type"}


class FakeWeChat:
    """``sns/jscode2session`` as WeChat documents it, on a loopback port in a thread."""

    def __init__(self) -> None:
        self.used: set[str] = set()
        self.requests: list[dict[str, str]] = []
        self.busy = False
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        app = Starlette(routes=[Route("/sns/jscode2session", self._jscode2session, methods=["GET"])])
        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self._thread = threading.Thread(target=asyncio.run, args=(self._server.serve(),), daemon=True)

    async def _jscode2session(self, request: Request) -> Response:
        q = dict(request.query_params)
        self.requests.append(q)
        if set(q) != WECHAT_PARAMS or q["grant_type"] != "authorization_code":
            return _wechat(errcode=40002, errmsg="invalid grant_type")
        if q["appid"] != APP_ID:
            return _wechat(errcode=40013, errmsg="invalid appid")
        if q["secret"] != APP_SECRET:
            return _wechat(errcode=40125, errmsg="invalid appsecret")
        if self.busy:
            return _wechat(errcode=-1, errmsg="system error")
        code = q["js_code"]
        if code.startswith("bad"):
            return _wechat(errcode=40029, errmsg="invalid code")
        if code in self.used:
            return _wechat(errcode=40163, errmsg="code been used")
        self.used.add(code)
        user = code.split("-")[0]  # one WeChat user logs in many times, each with a fresh code
        return _wechat(openid=f"oWx{user:_<10}openid", session_key="session-key-for-tests")

    def __enter__(self) -> FakeWeChat:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            assert time.monotonic() < deadline, "fake WeChat did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


def _wechat(**body: object) -> Response:
    import json

    return Response(json.dumps(body), media_type="text/plain")  # WeChat serves this JSON as text/plain


@pytest.fixture(scope="module")
def wechat() -> Iterator[FakeWeChat]:
    with FakeWeChat() as fake:
        yield fake


async def _service(tmp_path: Path, **settings: object) -> PublicService:
    clock = FakeClock()
    bus = InProcessBus(None)
    store = LocalObjectStore(
        tmp_path / "objects", "s" * 32, "http://test", clock=lambda: clock.now().timestamp()
    )
    runtime = Runtime(
        settings=CoreSettings(data_dir=tmp_path), bus=bus, store=store, tokens=new_token_issuer(), clock=clock
    )
    svc = PublicService(runtime, PublicSettings(data_dir=tmp_path, **settings), upstream=FakeUpstream())
    await bus.start()
    await svc.start()
    return svc


@pytest.fixture
async def client(tmp_path: Path, wechat: FakeWeChat) -> AsyncIterator[httpx.AsyncClient]:
    wechat.busy = False
    svc = await _service(
        tmp_path, wechat_app_id=APP_ID, wechat_app_secret=APP_SECRET, wechat_api_base=wechat.base_url
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=svc.app), base_url="http://test") as c:
        yield c
    await svc.stop()
    await svc.runtime.bus.stop()


async def _login(client: httpx.AsyncClient, code: str, tenant: str | None = None) -> httpx.Response:
    body = {"code": code} | ({"tenant_id": tenant} if tenant else {})
    return await client.post("/auth/wx-login", json=body)


async def test_wechat_says_who_the_parent_is(client: httpx.AsyncClient, wechat: FakeWeChat) -> None:
    first = await _login(client, "mum-0001")
    again = await _login(client, "mum-0002")  # the same WeChat user, a new code
    other = await _login(client, "dad-0001")
    assert first.status_code == again.status_code == other.status_code == 200, first.text
    assert first.json()["parent_id"] == again.json()["parent_id"] != other.json()["parent_id"]
    assert wechat.requests[-1] == {
        "appid": APP_ID,
        "secret": APP_SECRET,
        "js_code": "dad-0001",
        "grant_type": "authorization_code",
    }
    me = await client.get("/bindings", headers={"Authorization": f"Bearer {first.json()['session_token']}"})
    assert me.status_code == 200, me.text


async def test_any_word_is_not_a_login(client: httpx.AsyncClient) -> None:
    """The attack the demo login allowed: any word logged in. WeChat refuses what it did not issue."""
    assert (await _login(client, "bad-anyword")).status_code == 401
    assert (await _login(client, "mum-0100")).status_code == 200
    reused = await _login(client, "mum-0100")  # a captured code replayed
    assert reused.status_code == 401 and "already used" in reused.json()["detail"]


async def test_unknown_tenant_refused_before_the_code_is_spent(
    client: httpx.AsyncClient, wechat: FakeWeChat
) -> None:
    asked = len(wechat.requests)
    r = await _login(client, "mum-0200", tenant="no-such-bureau")
    assert r.status_code == 404 and "no-such-bureau" in r.json()["detail"]
    assert len(wechat.requests) == asked
    assert (await _login(client, "mum-0200", tenant=TENANT)).status_code == 200


async def test_wechat_trouble_is_a_503_not_a_refusal(client: httpx.AsyncClient, wechat: FakeWeChat) -> None:
    wechat.busy = True
    r = await _login(client, "mum-0300")
    assert r.status_code == 503 and r.headers["retry-after"] == "5", r.text
    wechat.busy = False
    assert (await _login(client, "mum-0300")).status_code == 200


async def test_unreachable_wechat_is_a_503(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"  # nothing listens once this closes
    svc = await _service(tmp_path, wechat_app_id=APP_ID, wechat_app_secret=APP_SECRET, wechat_api_base=dead)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=svc.app), base_url="http://t") as c:
            r = await _login(c, "mum-0400")
        assert r.status_code == 503 and "unreachable" in r.json()["detail"]
    finally:
        await svc.stop()
        await svc.runtime.bus.stop()


def test_production_refuses_the_demo_login(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="BK_WECHAT_APP_ID"):
        PublicSettings(data_dir=tmp_path, mode="production")
    with pytest.raises(ValueError, match="go together"):
        PublicSettings(data_dir=tmp_path, wechat_app_id=APP_ID)
