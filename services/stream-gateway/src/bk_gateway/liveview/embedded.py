"""Embedded live view: HLS by remuxing the camera's own H.264/HEVC with PyAV (no transcoding).

One pull per camera however many viewers: the first ``open`` starts a thread that copies the
camera's video packets into FFmpeg's ``hls`` muxer in a private temp dir (rolling playlist of a few
segments); every viewer request ``touch``es the session; a reaper stops a session nobody touched
for ``live_grace_s`` and deletes its files.

Real cameras are never transcoded: they already send H.264/HEVC, and copying packets costs almost
nothing, so live view does not cost CPU per camera (a camera in another codec is refused, 409).

Simulated (``sim:``) cameras are the one place we *encode*: they are rendered in-process (bksynth)
and have no compressed stream to remux, yet the demo and its browser tests must show parents and
supervisors moving video. ``SimLiveSession`` renders the scenario itself at a modest size and rate
(``SIM_LIVE_SIZE`` at ``SIM_LIVE_FPS``, about 10-15 % of one core per watched sim camera) and
encodes it with libx264 (ultrafast, zerolatency, no B-frames, a keyframe every segment) straight
into the same ``hls`` muxer path: same signed URLs, same viewer refresh, same grace-period stop,
and only while someone watches. It is a demo/test convenience, bounded by the handful of
simulated cameras; it is not a transcoding path for real cameras.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.frame import PictureType

from bk_gateway.settings import GatewaySettings
from bk_gateway.source_policy import SourcePolicy, SourceRefused
from bk_gateway.sources.base import SourceError
from bk_gateway.sources.pyav import classify, open_input
from bk_gateway.sources.sim import load_scenario
from bk_gateway.spec import CameraKey, CameraSpec
from bk_gateway.urls import SIM_PREFIX, source_kind
from bkcore.tasks import cancel_and_wait

log = logging.getLogger(__name__)
REMUXABLE = frozenset({"h264", "hevc"})
SEGMENT_RE = re.compile(r"^seg_\d{1,9}\.ts$")
PLAYLIST = "index.m3u8"
SIM_LIVE_FPS = 10  # frames/s of a simulated camera's live view: smooth enough, cheap
SIM_LIVE_SIZE = (640, 360)  # width, height (even: yuv420p)


class LiveError(Exception):
    """Live view cannot start: ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class LiveSession:
    def __init__(self, spec: CameraSpec, root: Path, settings: GatewaySettings) -> None:
        self.spec, self._s = spec, settings
        self.dir = Path(tempfile.mkdtemp(prefix=f"live-{spec.id}-", dir=root))
        self.last_seen = time.monotonic()
        self.opened = threading.Event()  # set once the input is open (or failed)
        self.error: str = ""
        self.codec = ""
        self.packets = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"live-{spec.id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def touch(self) -> None:
        self.last_seen = time.monotonic()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        shutil.rmtree(self.dir, ignore_errors=True)

    def _run(self) -> None:
        url = self.spec.live_pull_url  # the main stream when the camera has one
        try:
            # The same policy as the pull worker's, checked again now: live view opens the URL itself.
            with open_input(
                url,
                policy=SourcePolicy.from_settings(self._s),
                tenant_id=self.spec.tenant_id,
                open_timeout_s=self._s.open_timeout_s,
                read_timeout_s=self._s.read_timeout_s,
            ) as inp:
                video = next((st for st in inp.streams if st.type == "video"), None)
                if video is None:
                    raise LiveError(502, "the camera sends no video stream")
                self.codec = video.codec_context.name
                if self.codec not in REMUXABLE:
                    raise LiveError(
                        409,
                        f"live view remuxes H.264/HEVC without transcoding; this camera sends {self.codec}",
                    )
                self.opened.set()
                self._remux(inp, video)
        except LiveError as exc:
            self.error = exc.message
        except Exception as exc:  # any FFmpeg failure ends this session, clearly
            if isinstance(exc, SourceRefused):
                log.warning("live pull of %s refused by the address policy: %s", self.spec.id, exc.cause)
            self.error = classify(exc, url).message
            log.warning("live pull of %s ended: %s", self.spec.id, self.error)
        finally:
            self.opened.set()

    def _hls_options(self) -> dict[str, str]:
        """FFmpeg ``hls`` muxer: a rolling playlist of a few segments, old ones deleted."""
        return {
            "hls_time": f"{self._s.live_segment_s:g}",
            "hls_list_size": "6",
            "hls_allow_cache": "0",
            "hls_flags": "delete_segments+independent_segments+temp_file",
            "hls_segment_filename": str(self.dir / "seg_%05d.ts"),
        }

    def _remux(self, inp: av.container.InputContainer, video: av.VideoStream) -> None:
        with av.open(str(self.dir / PLAYLIST), "w", format="hls", options=self._hls_options()) as out:
            ostream = out.add_stream_from_template(video)
            pace = source_kind(self.spec.live_source) == "file"  # a file plays at real time, like a camera
            t0: float | None = None
            started, last_dts = False, None
            for packet in inp.demux(video):
                if self._stop.is_set():
                    break
                if packet.dts is None or packet.size == 0:
                    continue
                if not started and not packet.is_keyframe:
                    continue  # a segment must start on a keyframe
                if last_dts is not None and packet.dts <= last_dts:
                    continue  # RTSP sometimes repeats a timestamp; the muxer refuses them
                started, last_dts = True, packet.dts
                if pace and packet.time_base is not None:
                    t = float(packet.dts * packet.time_base)
                    t0 = time.monotonic() - t if t0 is None else t0
                    delay = t0 + t - time.monotonic()
                    if delay > 0 and self._stop.wait(delay):
                        break
                packet.stream = ostream
                out.mux(packet)
                self.packets += 1


class SimLiveSession(LiveSession):
    """Live view of a simulated camera: its scenario rendered and encoded to H.264 on demand.

    The one encoding path of the gateway (see the module docstring for why). The scenario clock
    starts at ``start_at`` (the scenario time the camera's pull worker last showed, so viewers see
    what the detector sees, within one sampling interval) and runs in real time; when rendering
    falls behind, frames are skipped rather than the clock slowed. The session counts as opened
    once the first segment is in the playlist, so the URL it hands out plays at once.
    """

    def __init__(
        self,
        spec: CameraSpec,
        root: Path,
        settings: GatewaySettings,
        *,
        start_at: float = 0.0,
        fps: int = SIM_LIVE_FPS,
        size: tuple[int, int] = SIM_LIVE_SIZE,
    ) -> None:
        super().__init__(spec, root, settings)
        self.start_at, self.fps, self.size = start_at, fps, size

    def _run(self) -> None:
        try:
            render = load_scenario(self.spec.live_source[len(SIM_PREFIX) :])
            self.codec = "h264"
            self._encode(render)
        except SourceError as exc:
            self.error = exc.message
        except Exception as exc:  # any FFmpeg failure ends this session, clearly
            self.error = f"encoding the simulated camera failed: {type(exc).__name__}: {exc}"
            log.warning("live encode of %s ended: %s", self.spec.id, self.error)
        finally:
            self.opened.set()

    def _encode(self, render: Callable[[float, int, int], np.ndarray]) -> None:
        fps, (width, height) = self.fps, self.size
        gop = max(1, round(fps * self._s.live_segment_s))  # a keyframe opens every segment
        playlist = self.dir / PLAYLIST
        with av.open(str(playlist), "w", format="hls", options=self._hls_options()) as out:
            stream = out.add_stream("libx264", rate=fps)
            cc = stream.codec_context
            cc.width, cc.height, cc.pix_fmt = width, height, "yuv420p"
            cc.time_base = Fraction(1, fps)
            cc.gop_size = gop
            cc.options = {
                "preset": "ultrafast",
                "tune": "zerolatency",
                "crf": "26",
                "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=0:forced-idr=1",
            }
            t0 = time.monotonic()
            pts, last_key = -1, -gop
            while not self._stop.is_set():
                due = t0 + (pts + 1) / fps
                if self._stop.wait(max(0.0, due - time.monotonic())):
                    break
                pts = max(pts + 1, int((time.monotonic() - t0) * fps))  # behind: skip, keep real time
                frame = av.VideoFrame.from_ndarray(
                    render(self.start_at + pts / fps, width, height), format="rgb24"
                )
                frame.pts, frame.time_base = pts, cc.time_base
                if pts - last_key >= gop:  # by time, so skipped frames do not stretch segments
                    frame.pict_type, last_key = PictureType.I, pts
                for packet in stream.encode(frame):
                    out.mux(packet)
                    self.packets += 1
                if not self.opened.is_set() and playlist.is_file():
                    self.opened.set()  # the first segment is out: the URL plays at once
            for packet in stream.encode(None):
                out.mux(packet)


class EmbeddedLive:
    """Live sessions of this replica, keyed by (tenant, camera): camera ids are unique per tenant only."""

    def __init__(self, settings: GatewaySettings, root: Path) -> None:
        self._s = settings
        self.root = root
        self.sessions: dict[CameraKey, LiveSession] = {}
        self._lock = asyncio.Lock()
        self._reaper: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._reaper = asyncio.create_task(self._reap_loop(), name="live-reaper")

    async def stop(self) -> None:
        if self._reaper:
            await cancel_and_wait(self._reaper)
        for cid in list(self.sessions):
            await self._end(cid)

    async def open(self, spec: CameraSpec, *, sim_time_s: float | None = None) -> LiveSession:
        """Start (or join) the camera's live pull; raises LiveError when it cannot be remuxed.

        A simulated camera gets a ``SimLiveSession`` (rendered and encoded here) whose scenario
        clock starts at ``sim_time_s``, the time its pull worker is at (0 if unknown).
        """
        sim = source_kind(spec.live_source) == "sim"
        async with self._lock:
            session = self.sessions.get(spec.key)
            if session is not None and (not session.alive or session.spec.live_key() != spec.live_key()):
                await self._end(spec.key)
                session = None
            if session is None:
                session = (
                    SimLiveSession(spec, self.root, self._s, start_at=sim_time_s or 0.0)
                    if sim
                    else LiveSession(spec, self.root, self._s)
                )
                session.start()
                self.sessions[spec.key] = session
        session.touch()
        wait_s = self._s.open_timeout_s + 1 + (self._s.live_segment_s + 2 if sim else 0)
        await asyncio.to_thread(session.opened.wait, wait_s)
        session.touch()  # the grace counts from the end of this request
        if session.error:
            await self._end(spec.key)
            raise LiveError(
                502 if "live view remuxes" not in session.error else 409,
                f"live view could not start: {session.error}",
            )
        return session

    def touch(self, camera: CameraKey) -> LiveSession | None:
        session = self.sessions.get(camera)
        if session is None or not session.alive:
            return None
        session.touch()
        return session

    def playlist(self, camera: CameraKey) -> str | None:
        session = self.touch(camera)
        if session is None:
            return None
        with contextlib.suppress(OSError):
            text = (session.dir / PLAYLIST).read_text()
            if "#EXTINF" in text:
                return text
        return ""  # running, first segment not written yet

    def segment(self, camera: CameraKey, name: str) -> Path | None:
        session = self.touch(camera)
        if session is None or not SEGMENT_RE.match(name):
            return None
        path = session.dir / name
        return path if path.is_file() else None

    async def _end(self, camera: CameraKey) -> None:
        session = self.sessions.pop(camera, None)
        if session is not None:
            await asyncio.to_thread(session.stop)
            log.info("live pull of %s stopped", camera.ref)

    async def reap(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        for cid, session in list(self.sessions.items()):
            if session.alive and not session.opened.is_set():
                continue  # still opening: a viewer is waiting for it in open()
            if not session.alive or now - session.last_seen > self._s.live_grace_s:
                if not session.alive:
                    log.warning("live pull of %s ended: %s", cid.ref, session.error or "the stream ended")
                await self._end(cid)

    async def _reap_loop(self) -> None:
        interval = max(0.2, min(2.0, self._s.live_grace_s / 2))
        while True:
            await asyncio.sleep(interval)
            try:
                await self.reap()
            except Exception:
                log.exception("live reaper failed")
