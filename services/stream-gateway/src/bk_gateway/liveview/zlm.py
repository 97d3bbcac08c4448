"""Production live view through ZLMediaKit: its HTTP API (stream proxy, close, snapshot, media list)
and the web hooks it calls back (play auth, on-demand close, pull on demand). See docs/zlmediakit.md.

One relay per camera, on demand: the first viewer makes the gateway ``addStreamProxy`` the camera
(RTSP over TCP) into ZLMediaKit as ``{app}/{tenant_id}~{camera_id}`` (camera ids are unique per
tenant only); the URL ZLMediaKit is given has passed the source policy, its host replaced by the
address that was checked (ZLMediaKit pulls it: it must not be pointed at internal addresses either);
viewers play ZLMediaKit's HTTP-FLV, HLS or WebRTC with ``?exp=&sig=`` signed by the gateway over
``/zlm/{app}/{stream}`` (the same signature for every protocol, since ZLMediaKit's ``on_play`` hook
hands over only app, stream and the URL's parameters); when the last viewer has gone for
``general.streamNoneReaderDelayMS``, ``on_stream_none_reader`` answers ``close: true`` and the pull
stops. A signed viewer arriving after that makes ``on_stream_not_found`` add the proxy again.

Secrets stay out of logs: the API secret and the camera URL (with its credentials) travel in POST
bodies, never in a URL httpx or a proxy could log, and ZLMediaKit's error messages are masked before
they are logged or returned.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx

from bk_gateway.liveview.signing import PlaySigner
from bk_gateway.settings import GatewaySettings
from bk_gateway.source_policy import SourcePolicy, SourceRefused
from bk_gateway.spec import CameraKey, CameraSpec
from bk_gateway.urls import mask_text, source_kind

log = logging.getLogger(__name__)
DEFAULT_VHOST = "__defaultVhost__"
#: ZLMediaKit's API codes (``ApiErr``): 0 success, -1 other failure, -100 auth (secret), -200 SQL,
#: -300 invalid arguments, -400 exception; -500 is what some builds answer for "not found".
CODES = {
    -1: "failed",
    -100: "authentication failed (BK_ZLM_SECRET does not match api.secret)",
    -200: "SQL failure",
    -300: "invalid arguments",
    -400: "exception in ZLMediaKit",
    -500: "not found",
}


class ZlmError(Exception):
    """ZLMediaKit refused or could not be reached; ``message`` is already free of secrets."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.message, self.code = message, code


class ZlmClient:
    """ZLMediaKit's RESTful API (``/index/api/...``). POST, urlencoded form, ``secret`` in the body."""

    def __init__(
        self,
        api_url: str,
        secret: str,
        *,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._secret = secret
        self._http = httpx.AsyncClient(base_url=api_url.rstrip("/"), timeout=timeout_s, transport=transport)

    async def aclose(self) -> None:
        await self._http.aclose()

    def _mask(self, text: str, *extra: str) -> str:
        return mask_text(text, self._secret, *extra)

    async def _post(self, name: str, params: dict[str, Any], *hide: str) -> httpx.Response:
        data = {k: str(int(v) if isinstance(v, bool) else v) for k, v in params.items()}
        data["secret"] = self._secret
        try:
            resp = await self._http.post(f"/index/api/{name}", data=data)
        except httpx.HTTPError as exc:
            raise ZlmError(
                f"ZLMediaKit API unreachable ({name}): {type(exc).__name__}: {self._mask(str(exc), *hide)}"
            ) from None
        if resp.status_code != 200:
            raise ZlmError(f"ZLMediaKit {name} answered HTTP {resp.status_code}")
        return resp

    async def call(self, name: str, params: dict[str, Any], *hide: str) -> dict[str, Any]:
        """POST ``/index/api/{name}``; raises ZlmError unless ``code`` is 0. ``hide``: more secrets to
        mask in error messages (a camera password ZLMediaKit may quote back)."""
        resp = await self._post(name, params, *hide)
        try:
            body = resp.json()
        except ValueError:
            raise ZlmError(f"ZLMediaKit {name} answered something that is not JSON") from None
        code = body.get("code") if isinstance(body, dict) else None
        if code != 0:
            msg = self._mask(str(body.get("msg", "")) if isinstance(body, dict) else "", *hide)
            what = CODES.get(code, "error") if isinstance(code, int) else "malformed answer"
            raise ZlmError(f"ZLMediaKit {name}: {what} (code {code}): {msg}".rstrip(": "), code)
        return body

    async def add_stream_proxy(
        self,
        *,
        app: str,
        stream: str,
        url: str,
        vhost: str = DEFAULT_VHOST,
        retry_count: int = 3,
        timeout_sec: float = 10.0,
        enable_hls: bool = True,
        enable_rtmp: bool = True,
        enable_rtsp: bool = True,
        enable_fmp4: bool = False,
        enable_ts: bool = False,
        enable_mp4: bool = False,
        enable_audio: bool = True,
        hide: tuple[str, ...] = (),
    ) -> str:
        """Pull ``url`` into ``vhost/app/stream``; returns ZLMediaKit's proxy key
        (``__defaultVhost__/live/cam``). RTSP is pulled over TCP (``rtp_type=0``). HLS for browsers,
        RTMP for HTTP-FLV (the mini-program's live-player), RTSP for WebRTC; the rest off."""
        body = await self.call(
            "addStreamProxy",
            {
                "vhost": vhost,
                "app": app,
                "stream": stream,
                "url": url,
                "rtp_type": 0,
                "retry_count": retry_count,
                "timeout_sec": timeout_sec,
                "enable_hls": enable_hls,
                "enable_rtmp": enable_rtmp,
                "enable_rtsp": enable_rtsp,
                "enable_fmp4": enable_fmp4,
                "enable_ts": enable_ts,
                "enable_mp4": enable_mp4,
                "enable_audio": enable_audio,
            },
            url,
            *hide,
        )
        data = body.get("data")
        return str(data.get("key", "")) if isinstance(data, dict) else ""

    async def del_stream_proxy(self, key: str) -> bool:
        body = await self.call("delStreamProxy", {"key": key})
        data = body.get("data")
        return bool(data.get("flag")) if isinstance(data, dict) else False

    async def close_streams(
        self, *, app: str, stream: str, vhost: str = DEFAULT_VHOST, force: bool = True
    ) -> int:
        """Close every protocol of ``vhost/app/stream`` (even with viewers when ``force``); returns
        ``count_closed``."""
        body = await self.call(
            "close_streams", {"vhost": vhost, "app": app, "stream": stream, "force": force}
        )
        return int(body.get("count_closed", 0) or 0)

    async def get_media_list(
        self, *, app: str, stream: str, vhost: str = DEFAULT_VHOST, schema: str = ""
    ) -> list[dict[str, Any]]:
        params = {"vhost": vhost, "app": app, "stream": stream}
        if schema:
            params["schema"] = schema
        body = await self.call("getMediaList", params)
        data = body.get("data")  # older builds leave ``data`` out when nothing matches
        return [m for m in data if isinstance(m, dict)] if isinstance(data, list) else []

    async def is_live(self, *, app: str, stream: str, vhost: str = DEFAULT_VHOST) -> bool:
        return bool(await self.get_media_list(app=app, stream=stream, vhost=vhost))

    async def get_snap(
        self, *, url: str, timeout_sec: float = 10.0, expire_sec: float = 5.0, hide: tuple[str, ...] = ()
    ) -> bytes:
        """A JPEG of ``url`` taken by ZLMediaKit's FFmpeg (cached ``expire_sec``). ZLMediaKit answers
        the image itself, its default picture when the snapshot failed, or JSON on an API error."""
        resp = await self._post(
            "getSnap", {"url": url, "timeout_sec": timeout_sec, "expire_sec": expire_sec}, url, *hide
        )
        ctype = resp.headers.get("content-type", "")
        if "json" in ctype:
            try:
                body = resp.json()
            except ValueError:
                body = {}
            code = body.get("code") if isinstance(body, dict) else None
            raise ZlmError(
                f"ZLMediaKit getSnap: {CODES.get(code, 'error') if isinstance(code, int) else ''} "
                f"(code {code}): {self._mask(str(body.get('msg', '')), url, *hide)}",
                code,
            )
        if not resp.content.startswith(b"\xff\xd8"):
            raise ZlmError("ZLMediaKit getSnap: no snapshot (default picture returned)")
        return resp.content


@dataclass(frozen=True, slots=True)
class PlayUrls:
    flv: str
    hls: str
    webrtc: str


class ZlmLive:
    """The gateway's side of ZLMediaKit live view: start relays, sign play URLs, answer hooks."""

    def __init__(
        self, settings: GatewaySettings, signer: PlaySigner, client: ZlmClient | None = None
    ) -> None:
        self._s = settings
        self.signer = signer
        self.client = client or ZlmClient(
            settings.zlm_api_url, settings.zlm_secret, timeout_s=settings.zlm_api_timeout_s
        )
        self.app, self.vhost = settings.zlm_app, settings.zlm_vhost
        self.public = (settings.zlm_public_url or settings.zlm_api_url).rstrip("/")
        #: relays this replica started: camera → the stream key they were started with.
        self.relays: dict[CameraKey, tuple[object, ...]] = {}
        self._pending: set[asyncio.Task[None]] = set()
        self._locks: dict[CameraKey, asyncio.Lock] = {}

    async def aclose(self) -> None:
        for task in list(self._pending):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        await self.client.aclose()

    # --- signing -------------------------------------------------------------------------------
    def resource(self, stream: str, app: str | None = None) -> str:
        """What a play signature covers: the stream, whatever the protocol it is played with."""
        return f"/zlm/{app or self.app}/{stream}"

    def play_urls(self, camera: CameraKey, exp: int) -> PlayUrls:
        stream = camera.ref
        q = self.signer.query(self.resource(stream), exp)
        base, app = self.public, self.app
        rtc = urlencode({"app": app, "stream": stream, "type": "play"})
        return PlayUrls(
            flv=f"{base}/{app}/{stream}.live.flv?{q}",
            hls=f"{base}/{app}/{stream}/hls.m3u8?{q}",
            webrtc=f"{base}/index/api/webrtc?{rtc}&{q}",
        )

    def signed(self, app: str, stream: str, params: str) -> bool:
        """Does the play URL's query (``params`` of a hook) carry a valid, unexpired signature?"""
        q = parse_qs(params or "", keep_blank_values=True)
        exp, sig = (q.get("exp") or [None])[-1], (q.get("sig") or [None])[-1]
        return bool(app and stream) and self.signer.valid(self.resource(stream, app), exp, sig)

    # --- relays --------------------------------------------------------------------------------
    async def open(self, spec: CameraSpec) -> None:
        """Make sure ZLMediaKit relays the camera's live source (its main stream when it has one;
        first viewer: add the proxy). Raises ZlmError."""
        if source_kind(spec.live_source) in ("sim", "file"):
            raise ZlmError("ZLMediaKit relays network cameras only (RTSP, RTMP, HTTP-FLV, HLS)")
        lock = self._locks.setdefault(spec.key, asyncio.Lock())
        async with lock:  # two first viewers at once: one addStreamProxy
            if await self.client.is_live(app=self.app, stream=spec.key.ref, vhost=self.vhost):
                self.relays.setdefault(spec.key, spec.live_key())
                return
            await self._add(spec)

    async def _checked(self, spec: CameraSpec, url: str) -> str:
        """The URL ZLMediaKit may pull: the source policy's, host pinned to the checked address.
        Raises ZlmError with the policy's one generic sentence; the cause goes to the log."""
        try:
            policy = SourcePolicy.from_settings(self._s)
            return (await asyncio.to_thread(policy.target, url, spec.tenant_id)).url  # resolves: blocks
        except SourceRefused as exc:
            log.warning(
                "live relay of %s refused by the address policy: %s",
                spec.key.ref,
                exc.cause,
                extra={"camera_id": spec.id, "tenant_id": spec.tenant_id},
            )
            raise ZlmError(exc.public) from None

    async def _add(self, spec: CameraSpec) -> None:
        url = await self._checked(spec, spec.live_pull_url)
        try:
            key = await self.client.add_stream_proxy(
                app=self.app,
                stream=spec.key.ref,
                url=url,
                vhost=self.vhost,
                retry_count=self._s.zlm_retry_count,
                timeout_sec=self._s.open_timeout_s,
                hide=(spec.password, spec.username),
            )
        except ZlmError as exc:
            if "already exists" not in exc.message:  # another replica or viewer was first: fine
                raise
            key = f"{self.vhost}/{self.app}/{spec.key.ref}"
        self.relays[spec.key] = spec.live_key()
        log.info(
            "live relay of %s started in ZLMediaKit (%s)",
            spec.key.ref,
            key,
            extra={"camera_id": spec.id, "tenant_id": spec.tenant_id},
        )

    async def close(self, camera: CameraKey) -> None:
        """Stop the camera's relay now (camera disabled, removed or re-pointed)."""
        self.relays.pop(camera, None)
        with contextlib.suppress(ZlmError):
            await self.client.close_streams(app=self.app, stream=camera.ref, vhost=self.vhost, force=True)
        with contextlib.suppress(ZlmError):
            await self.client.del_stream_proxy(f"{self.vhost}/{self.app}/{camera.ref}")
        log.info(
            "live relay of %s closed",
            camera.ref,
            extra={"camera_id": camera.camera_id, "tenant_id": camera.tenant_id},
        )

    async def snapshot(self, spec: CameraSpec) -> bytes | None:
        """ZLMediaKit's snapshot of the camera (when this replica has no decoded frame of it)."""
        if source_kind(spec.source_url) in ("sim", "file"):
            return None
        try:
            return await self.client.get_snap(
                url=await self._checked(spec, spec.pull_url),
                timeout_sec=self._s.open_timeout_s,
                hide=(spec.password, spec.username),
            )
        except ZlmError as exc:
            log.warning(
                "snapshot of %s from ZLMediaKit failed: %s",
                spec.id,
                exc.message,
                extra={"camera_id": spec.id},
            )
            return None

    # --- hooks ---------------------------------------------------------------------------------
    def check_hook_token(self, token: str | None) -> bool:
        expected = self._s.zlm_hook_token
        if not expected:
            return True  # no token configured (dev): hooks are still bound by the play signature
        return token is not None and hmac.compare_digest(token.encode(), expected.encode())

    def on_play(self, body: dict[str, Any]) -> dict[str, Any]:
        app, stream = str(body.get("app", "")), str(body.get("stream", ""))
        if self.signed(app, stream, str(body.get("params", ""))):
            return {"code": 0, "msg": "success"}
        log.info(
            "live play of %s/%s refused: unsigned or expired URL (%s from %s)",
            app,
            stream,
            body.get("schema", ""),
            body.get("ip", ""),
        )
        return {"code": -1, "msg": "invalid or expired play URL"}

    def on_stream_none_reader(self, body: dict[str, Any]) -> dict[str, Any]:
        app, stream = str(body.get("app", "")), str(body.get("stream", ""))
        if app != self.app:
            return {"code": 0, "close": False}  # not one of our relays (e.g. a pushed stream)
        camera = CameraKey.from_ref(stream)
        if camera is not None:
            self.relays.pop(camera, None)
        log.info("live relay of %s: no viewer left, closing", stream, extra={"camera_id": stream})
        return {"code": 0, "close": True}

    def on_stream_not_found(self, body: dict[str, Any], spec: CameraSpec | None) -> dict[str, Any]:
        """A viewer plays a relay that is not running (closed for no viewers, ZLMediaKit restarted):
        pull it again, in the background, as ZLMediaKit holds the player ``maxStreamWaitMS`` for it."""
        app, stream = str(body.get("app", "")), str(body.get("stream", ""))
        if app != self.app or not self.signed(app, stream, str(body.get("params", ""))):
            return {"code": 0, "msg": "success"}  # nothing to pull; the player gets "not found"
        if spec is None or not spec.enabled:
            return {"code": 0, "msg": "success"}
        task = asyncio.create_task(self._pull_on_demand(spec), name=f"zlm-pull-{spec.key.ref}")
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return {"code": 0, "msg": "success"}

    async def _pull_on_demand(self, spec: CameraSpec) -> None:
        try:
            await self.open(spec)
        except ZlmError as exc:
            log.warning("pull on demand of %s failed: %s", spec.id, exc.message, extra={"camera_id": spec.id})
