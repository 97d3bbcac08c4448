"""A faithful fake of ZLMediaKit's HTTP API and hook calls, served by a real uvicorn on loopback.

What it mirrors (ZLMediaKit's WebApi / web hook documentation): every API is ``/index/api/<name>``,
GET or POST (urlencoded or JSON), with ``secret``; answers are HTTP 200 with JSON ``{"code": ...}``
(0 ok, -1 failure, -100 wrong secret, -300 missing argument, ...); ``addStreamProxy`` answers
``{"code":0,"data":{"key":"__defaultVhost__/live/cam"}}`` or ``-1 "This stream already exists"``;
``getMediaList`` one entry per protocol of a live stream; ``close_streams`` ``count_hit/count_closed``;
``getSnap`` the JPEG itself. Players go through hooks like ZLMediaKit does: ``on_play`` (refuse
unless ``code`` is 0), ``on_stream_not_found`` when the stream is missing (then wait
``max_stream_wait_s`` for it to register), ``on_stream_none_reader`` when the last one leaves
(close the stream when the answer says ``close: true``).
"""

from __future__ import annotations

import asyncio
import io
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from PIL import Image

VHOST = "__defaultVhost__"
REQUIRED = {
    "addStreamProxy": ("vhost", "app", "stream", "url"),
    "close_streams": (),
    "delStreamProxy": ("key",),
    "getMediaList": (),
    "getSnap": ("url", "timeout_sec", "expire_sec"),
}


@dataclass
class Proxy:
    key: str
    app: str
    stream: str
    url: str
    params: dict[str, str]


@dataclass
class FakeZlm:
    secret: str
    hook_base: str = ""  # e.g. http://gateway/v1/zlm/hooks (set by the test)
    hook_token: str = ""
    hook_client: httpx.AsyncClient | None = None
    max_stream_wait_s: float = 3.0
    calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    proxies: dict[str, Proxy] = field(default_factory=dict)
    fail_next: dict[str, tuple[int, str]] = field(default_factory=dict)
    hooks: list[tuple[str, dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    down: bool = False
    url: str = ""
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    # --- the API ---------------------------------------------------------------------------------
    def app(self) -> FastAPI:
        app = FastAPI()

        @app.api_route("/index/api/{name}", methods=["GET", "POST"])
        async def api(name: str, request: Request) -> Response:
            if self.down:
                return Response(status_code=503)
            params: dict[str, str] = dict(request.query_params)
            if request.method == "POST":
                if request.headers.get("content-type", "").startswith("application/json"):
                    params.update({k: str(v) for k, v in (await request.json()).items()})
                else:
                    params.update({k: str(v) for k, v in (await request.form()).items()})
            self.calls.append((name, params))
            if params.get("secret") != self.secret:
                return JSONResponse({"code": -100, "msg": "Incorrect secret"})
            if name not in REQUIRED:
                return JSONResponse({"code": -400, "msg": f"unknown api {name}"})
            missing = [p for p in REQUIRED[name] if not params.get(p)]
            if missing:
                return JSONResponse({"code": -300, "msg": f"Required parameter missed: {missing[0]}"})
            if name in self.fail_next:
                code, msg = self.fail_next.pop(name)
                return JSONResponse({"code": code, "msg": msg})
            return await getattr(self, f"_{name}")(params)

        return app

    async def _addStreamProxy(self, p: dict[str, str]) -> Response:
        key = f"{p['vhost']}/{p['app']}/{p['stream']}"
        if key in self.proxies:
            return JSONResponse({"code": -1, "msg": "This stream already exists"})
        self.proxies[key] = Proxy(key, p["app"], p["stream"], p["url"], p)
        return JSONResponse({"code": 0, "data": {"key": key}})

    async def _delStreamProxy(self, p: dict[str, str]) -> Response:
        found = self.proxies.pop(p["key"], None) is not None
        return JSONResponse({"code": 0, "data": {"flag": found}})

    def _match(self, p: dict[str, str]) -> list[Proxy]:
        return [
            x
            for x in self.proxies.values()
            if (not p.get("app") or x.app == p["app"])
            and (not p.get("stream") or x.stream == p["stream"])
            and (not p.get("vhost") or x.key.startswith(p["vhost"] + "/"))
        ]

    async def _close_streams(self, p: dict[str, str]) -> Response:
        hit = self._match(p)
        for x in hit:
            self.proxies.pop(x.key, None)
        return JSONResponse({"code": 0, "count_hit": len(hit) * 3, "count_closed": len(hit) * 3})

    async def _getMediaList(self, p: dict[str, str]) -> Response:
        data = [
            {
                "app": x.app,
                "stream": x.stream,
                "vhost": VHOST,
                "schema": schema,
                "readerCount": 0,
                "totalReaderCount": 0,
                "originType": 4,
                "originTypeStr": "pull",
                "originUrl": x.url,
                "tracks": [{"codec_id_name": "H264", "codec_type": 0}],
            }
            for x in self._match(p)
            for schema in ("rtsp", "rtmp", "hls")
            if not p.get("schema") or p["schema"] == schema
        ]
        return JSONResponse({"code": 0, "data": data})

    async def _getSnap(self, p: dict[str, str]) -> Response:
        buf = io.BytesIO()
        Image.new("RGB", (64, 36), (120, 90, 60)).save(buf, "JPEG")
        return Response(buf.getvalue(), media_type="image/jpeg")

    # --- players, through the hooks ------------------------------------------------------------
    async def _hook(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        assert self.hook_client is not None
        resp = await self.hook_client.post(f"{self.hook_base}/{name}?token={self.hook_token}", json=body)
        answer = resp.json() if resp.status_code == 200 else {"code": -1, "http": resp.status_code}
        self.hooks.append((name, body, answer))
        return answer

    async def play(self, app: str, stream: str, params: str, schema: str = "rtmp") -> bool:
        """A player opens ``app/stream?params``: True when it would get video."""
        body = {
            "app": app,
            "stream": stream,
            "params": params,
            "schema": schema,
            "vhost": VHOST,
            "id": "140183261280256",
            "ip": "10.0.17.132",
            "port": 65217,
            "protocol": "http",
            "mediaServerId": "fake-zlm",
        }
        if (await self._hook("on_play", body)).get("code") != 0:
            return False
        key = f"{VHOST}/{app}/{stream}"
        if key in self.proxies:
            return True
        await self._hook("on_stream_not_found", body)
        deadline = time.monotonic() + self.max_stream_wait_s
        while time.monotonic() < deadline:
            if key in self.proxies:
                return True
            await asyncio.sleep(0.05)
        return False

    async def last_viewer_left(self, app: str, stream: str) -> bool:
        """streamNoneReaderDelayMS after the last viewer: True when the stream was closed."""
        body = {"app": app, "stream": stream, "schema": "rtmp", "vhost": VHOST, "mediaServerId": "fake-zlm"}
        answer = await self._hook("on_stream_none_reader", body)
        if answer.get("code") == 0 and answer.get("close"):
            self.proxies.pop(f"{VHOST}/{app}/{stream}", None)
            return True
        return False

    # --- serving -----------------------------------------------------------------------------------
    async def start(self) -> str:
        config = uvicorn.Config(self.app(), host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:  # noqa: ASYNC110 (uvicorn exposes a flag, not an event)
            await asyncio.sleep(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task

    def names(self) -> list[str]:
        return [n for n, _ in self.calls]
