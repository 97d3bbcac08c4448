"""#17.1 written as the attacks: what a tenant's admin sends to make the gateway read another
tenant's files or probe the platform's internal addresses, and the refusal each must get.

The registry answers 422 naming the field, with one sentence whatever the cause (so the refusal maps
nothing); a URL whose name resolves inward only after registration is refused when the stream is
opened, and the camera's status says the same sentence (no "connection refused" vs "timeout" vs
"HTTP 404" oracle). Resolution is faked where a test needs a name to point somewhere (monkeypatched
``bkcore.netpolicy.system_resolver``); every connection that is made is to a real server on loopback.
"""

from __future__ import annotations

import asyncio
import functools
import http.server
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import av
import httpx
import pytest
from gateway_helpers import runtime, settings, token

from bk_gateway.service import GatewayService, create_service
from bk_gateway.source_policy import FILES_REFUSED, SourcePolicy, SourceRefused, address_policy, media_root
from bk_gateway.synth_video import write_kitchen_video
from bkcore import netpolicy
from bkcore.auth import Role
from bkcore.netpolicy import REFUSED
from bkcore.settings import Mode

TENANT_A, TENANT_B = "minghu", "riverside"


def camera(camera_id: str, source_url: str, **kw: Any) -> dict[str, Any]:
    return {"id": camera_id, "site_id": "s1", "zone": "cooking", "source_url": source_url, "enabled": False,
            **kw}  # fmt: skip


def names(answers: dict[str, Sequence[str]]):  # type: ignore[no-untyped-def]
    """What DNS answers, now: a test flips it to play DNS rebinding."""

    def resolve(host: str, port: int) -> Sequence[str]:
        if host not in answers:
            raise OSError(f"{host}: no such name")
        return answers[host]

    return resolve


@asynccontextmanager
async def gateway(tmp: Path, **kw: Any) -> AsyncIterator[tuple[GatewayService, httpx.AsyncClient]]:
    rt = runtime(settings(tmp, **kw))
    svc = create_service(rt)
    await rt.bus.start()
    await svc.start()
    try:
        transport = httpx.ASGITransport(app=svc.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            yield svc, client
    finally:
        await svc.stop()
        await rt.bus.stop()


async def polled(fetch: Callable[[], Awaitable[Any]], done: Callable[[Any], bool], within_s: float) -> Any:
    """``fetch()`` until ``done`` says so or ``within_s`` has passed; returns the last value (the
    caller asserts on it, so a failure shows what was seen)."""
    deadline = time.monotonic() + within_s
    while True:
        value = await fetch()
        if done(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.1)


def refusal(r: httpx.Response) -> dict[str, str]:
    """field → message of a 422."""
    assert r.status_code == 422, r.text
    return {e["loc"][-1]: e["msg"] for e in r.json()["detail"]}


# --- files ---------------------------------------------------------------------------------------------
async def test_tenant_b_cannot_register_tenant_a_clip_or_any_path_outside_its_media(tmp_path: Path) -> None:
    media = tmp_path / "media"
    clip_a = write_kitchen_video(media / TENANT_A / "kitchen.mkv", seconds=1)
    (media / TENANT_B).mkdir()
    (media / TENANT_B / "a-link.mkv").symlink_to(clip_a)  # a symlink in B's own folder to A's clip
    async with gateway(tmp_path, media_dir=media) as (svc, c):
        b = token(svc.runtime, Role.PLATFORM_ADMIN, tenant=TENANT_B)
        a = token(svc.runtime, Role.PLATFORM_ADMIN, tenant=TENANT_A)
        for url in (
            f"file://{clip_a}",
            str(clip_a),
            f"{media}/{TENANT_B}/../{TENANT_A}/kitchen.mkv",
            str(media / TENANT_B / "a-link.mkv"),
            "/etc/passwd",
            "file:///etc/passwd",
            f"file://localhost{clip_a}",
        ):
            r = await c.put("/v1/cameras/peek", json=camera("peek", url), headers=b)
            assert refusal(r) == {"source_url": FILES_REFUSED}, url
            r = await c.put(
                "/v1/cameras/peek", json=camera("peek", "sim:cooking", live_source_url=url), headers=b
            )
            assert refusal(r) == {"live_source_url": FILES_REFUSED}, url
        assert (await c.get("/v1/cameras", headers=b)).json() == []  # nothing was stored
        # The owner may play its own clip (embedded mode).
        r = await c.put("/v1/cameras/clip", json=camera("clip", f"file://{clip_a}"), headers=a)
        assert r.status_code == 200, r.text


def test_production_refuses_every_file_and_every_internal_address() -> None:
    """What production mode builds (settings as loaded, without its servers): no media directory,
    no internal address unless its network is listed."""
    prod = settings(Path("/nonexistent")).model_copy(update={"mode": Mode.PRODUCTION})
    assert media_root(prod) is None
    policy = SourcePolicy.from_settings(prod)
    for url in ("file:///srv/media/minghu/kitchen.mkv", "/srv/media/minghu/kitchen.mkv"):
        with pytest.raises(SourceRefused, match="file source") as refused:
            policy.check(url, TENANT_A)
        assert refused.value.public == FILES_REFUSED
    assert not address_policy(prod).allow_internal
    # ...and cannot be told to allow every internal address (only to list the sites' networks).
    with pytest.raises(ValueError, match="BK_CAMERA_ALLOW_INTERNAL"):
        prod.model_copy(update={"camera_allow_internal": True})._internal_cameras_not_in_production()
    assert policy.target("sim:cooking", TENANT_A).url == "sim:cooking"


# --- internal addresses --------------------------------------------------------------------------------
ATTACKS = [
    "rtsp://127.0.0.1:554/Streaming/Channels/101",
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://[fd00:ec2::254]/latest/meta-data",
    "http://metadata.google.internal/computeMetadata/v1/x.flv",
    "rtsp://10.0.0.5/Streaming/Channels/101",
    "rtsp://admin:pw@192.168.1.64:554/h264",
    "rtsp://100.64.0.9/live",
    "rtsp://localhost:8554/cam",  # a name resolving to 127.0.0.1 (/etc/hosts)
    "rtsp://2130706433/cam",  # 127.0.0.1 as one number: resolved the way FFmpeg would
    "http://[::ffff:127.0.0.1]:8080/live.flv",
    "rtmp://kafka.kafka.svc.cluster.local:9092/x",
    "https://api.internal.svc/x.m3u8",
    "rtsp://no-such-host.invalid/cam",  # does not resolve: the same answer as internal
]


async def test_internal_camera_urls_are_refused_with_one_sentence(tmp_path: Path) -> None:
    async with gateway(tmp_path, camera_allow_internal=False) as (svc, c):
        b = token(svc.runtime, Role.PLATFORM_ADMIN, tenant=TENANT_B)
        for url in ATTACKS:
            r = await c.put("/v1/cameras/probe", json=camera("probe", url), headers=b)
            assert refusal(r) == {"source_url": REFUSED}, url
            assert "pw" not in r.text
        r = await c.put("/v1/cameras/ok", json=camera("ok", "sim:cooking"), headers=b)
        assert r.status_code == 200
        for url in ATTACKS[:3]:  # changed later: the same check
            r = await c.patch("/v1/cameras/ok", json={"source_url": url}, headers=b)
            assert refusal(r) == {"source_url": REFUSED}, url
        assert (await c.get("/v1/cameras/ok", headers=b)).json()["source_url"] == "sim:cooking"


async def test_a_sites_camera_network_can_be_allowed_but_never_metadata(tmp_path: Path) -> None:
    async with gateway(
        tmp_path,
        camera_allow_internal=False,
        camera_allowed_networks="192.168.10.0/24",
        cluster_networks="10.96.0.0/12",
    ) as (svc, c):
        a = token(svc.runtime, Role.PLATFORM_ADMIN, tenant=TENANT_A)
        r = await c.put("/v1/cameras/lan", json=camera("lan", "rtsp://192.168.10.20:554/main"), headers=a)
        assert r.status_code == 200, r.text
        r = await c.put("/v1/cameras/lan2", json=camera("lan2", "rtsp://192.168.11.20:554/main"), headers=a)
        assert refusal(r) == {"source_url": REFUSED}
    # Embedded (the demo, a single site on its own LAN): internal addresses are fine, metadata never.
    async with gateway(tmp_path / "embedded") as (svc, c):
        a = token(svc.runtime, Role.PLATFORM_ADMIN, tenant=TENANT_A)
        r = await c.put("/v1/cameras/lo", json=camera("lo", "rtsp://127.0.0.1:8554/cam"), headers=a)
        assert r.status_code == 200, r.text
        r = await c.put("/v1/cameras/md", json=camera("md", "http://169.254.169.254/latest/x.flv"), headers=a)
        assert refusal(r) == {"source_url": REFUSED}


@contextmanager
def http_server(root: Path, status: int = 200, hosts: list[str] | None = None) -> Iterator[int]:
    """A real HTTP server on loopback serving ``root`` (or answering ``status`` to everything); the
    Host header of each request goes to ``hosts``."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            if hosts is not None:
                hosts.append(self.headers.get("Host", ""))
            if status != 200:
                self.send_error(status)
                return
            super().do_GET()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.integration
async def test_rebinding_after_registration_is_refused_at_open_without_an_oracle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Names that were public at registration and point inward when the stream opens: a closed port,
    an HTTP server answering 404, a name that stopped resolving. Each camera's status shows the same
    kind and the same sentence, not what a connection would have told."""
    answers: dict[str, Sequence[str]] = {f"cam{i}.example.com": ["93.184.216.34"] for i in range(3)}
    monkeypatch.setattr(netpolicy, "system_resolver", names(answers))
    with http_server(tmp_path, status=404) as port_404:
        urls = {"cam0": f"rtsp://cam0.example.com:{closed_port()}/x",
                "cam1": f"http://cam1.example.com:{port_404}/live.flv",
                "cam2": "rtsp://cam2.example.com/x"}  # fmt: skip
        async with gateway(tmp_path, camera_allow_internal=False) as (svc, c):
            b = token(svc.runtime, Role.PLATFORM_ADMIN, tenant=TENANT_B)
            for cam, url in urls.items():
                r = await c.put(f"/v1/cameras/{cam}", json=camera(cam, url), headers=b)
                assert r.status_code == 200, r.text  # public when registered
            answers.update({"cam0.example.com": ["127.0.0.1"], "cam1.example.com": ["127.0.0.1"]})
            del answers["cam2.example.com"]
            for cam in urls:
                assert (
                    await c.patch(f"/v1/cameras/{cam}", json={"enabled": True}, headers=b)
                ).status_code == 200

            async def statuses() -> dict[str, tuple[str, str]]:
                out = (await c.get("/v1/cameras/status", headers=b)).json()
                return {s["camera_id"]: (s["error_kind"], s["reason"]) for s in out}

            seen = await polled(statuses, lambda s: len(s) == 3 and all(k for k, _ in s.values()), 20)
            assert set(seen.values()) == {("refused", REFUSED)}, seen


# --- what is inside a stream ---------------------------------------------------------------------------
def hls_segments(folder: Path) -> Path:
    """A real HLS stream (H.264 in MPEG-TS segments) written into ``folder``."""
    clip = write_kitchen_video(folder / "k.mkv", seconds=4, fps=10, gop_s=1.0)
    options = {"hls_time": "2", "hls_list_size": "0", "hls_segment_filename": str(folder / "seg_%03d.ts")}
    with (
        av.open(str(clip)) as inp,
        av.open(str(folder / "index.m3u8"), "w", format="hls", options=options) as out,
    ):
        video = inp.streams.video[0]
        stream = out.add_stream_from_template(video)
        for packet in inp.demux(video):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    return folder / "seg_000.ts"


def playlist(folder: Path, name: str, *entries: str) -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:2"]
    for entry in entries:
        lines += ["#EXTINF:2.0,", entry]
    (folder / name).write_text("\n".join([*lines, "#EXT-X-ENDLIST", ""]))
    return name


@pytest.mark.integration
async def test_hls_playlist_naming_files_or_metadata_is_refused(tmp_path: Path) -> None:
    """An allowed HTTP server (loopback, embedded mode) serves playlists whose segments are a real
    video file on the gateway's disk, /etc/passwd, and the metadata service: no frame comes from
    any of them. The same playlist with its own segment plays (the control)."""
    www = tmp_path / "www"
    www.mkdir()
    seg = hls_segments(www).resolve()
    cams = {
        "good": playlist(www, "good.m3u8", "seg_000.ts"),
        "file-seg": playlist(www, "file.m3u8", f"file://{seg}"),
        "passwd": playlist(www, "passwd.m3u8", "seg_000.ts", "file:///etc/passwd"),
        "metadata": playlist(www, "md.m3u8", "http://169.254.169.254/latest/meta-data/seg.ts"),
    }
    with http_server(www) as port:
        async with gateway(tmp_path) as (svc, c):
            a = token(svc.runtime, Role.PLATFORM_ADMIN, tenant=TENANT_A)
            for cam, name in cams.items():
                body = camera(cam, f"http://127.0.0.1:{port}/{name}", enabled=True)
                assert (await c.put(f"/v1/cameras/{cam}", json=body, headers=a)).status_code == 200

            async def statuses() -> dict[str, dict[str, Any]]:
                return {s["camera_id"]: s for s in (await c.get("/v1/cameras/status", headers=a)).json()}

            def settled(s: dict[str, dict[str, Any]]) -> bool:
                return s["good"]["frames_sampled"] > 0 and all(
                    s[cam]["error_kind"] for cam in cams if cam != "good"
                )

            seen = await polled(statuses, settled, 30)
            good, bad = seen["good"], {cam: seen[cam] for cam in cams if cam != "good"}
            assert good["frames_sampled"] > 0, good  # the control plays through the same path
            for cam, s in bad.items():
                assert s["frames_sampled"] == 0 and s["state"] == "offline", (cam, s)
                assert s["error_kind"] in ("refused", "invalid_data"), (cam, s)
            assert bad["file-seg"]["error_kind"] == "refused" and bad["metadata"]["error_kind"] == "refused"


@pytest.mark.integration
async def test_an_http_flv_camera_is_fetched_at_the_checked_address_under_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A camera registered by name: the gateway resolves it once per request, connects to the address
    it checked (FFmpeg resolves nothing), and still says the camera's name in the Host header."""
    www = tmp_path / "www"
    clip = write_kitchen_video(tmp_path / "k.mkv", seconds=4, fps=10, gop_s=1.0)
    www.mkdir()
    with av.open(str(clip)) as inp, av.open(str(www / "live.flv"), "w", format="flv") as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    monkeypatch.setattr(netpolicy, "system_resolver", names({"flv-cam.site.example": ["127.0.0.1"]}))
    hosts: list[str] = []
    with http_server(www, hosts=hosts) as port:
        async with gateway(tmp_path, camera_allow_internal=False, camera_allowed_networks="127.0.0.1/32") as (
            svc,
            c,
        ):
            a = token(svc.runtime, Role.PLATFORM_ADMIN, tenant=TENANT_A)
            body = camera("flv", f"http://flv-cam.site.example:{port}/live.flv", enabled=True)
            assert (await c.put("/v1/cameras/flv", json=body, headers=a)).status_code == 200

            async def status() -> dict[str, Any]:
                return (await c.get("/v1/cameras/flv/status", headers=a)).json()  # type: ignore[no-any-return]

            seen = await polled(status, lambda s: s["frames_sampled"] > 0, 30)
            assert seen["frames_sampled"] > 0 and seen["codec"] == "h264", seen
    assert hosts and set(hosts) == {f"flv-cam.site.example:{port}"}
