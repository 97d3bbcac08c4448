"""Embedded live view: HLS by remuxing the camera's own H.264/HEVC with PyAV (no transcoding).

One pull per camera however many viewers: the first ``open`` starts a thread that copies the
camera's video packets into FFmpeg's ``hls`` muxer in a private temp dir (rolling playlist of a few
segments); every viewer request ``touch``es the session; a reaper stops a session nobody touched
for ``live_grace_s`` and deletes its files. Simulated (``sim:``) cameras have no compressed stream
to remux, so they are refused (409) rather than transcoded: live view must not cost CPU per viewer.
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
from pathlib import Path

import av

from bk_gateway.settings import GatewaySettings
from bk_gateway.sources.pyav import _options, classify
from bk_gateway.spec import CameraSpec
from bk_gateway.urls import source_kind

log = logging.getLogger(__name__)
REMUXABLE = frozenset({"h264", "hevc"})
SEGMENT_RE = re.compile(r"^seg_\d{1,9}\.ts$")
PLAYLIST = "index.m3u8"


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
        url = self.spec.pull_url
        try:
            with av.open(url, options=_options(url, self._s.read_timeout_s),
                         timeout=(self._s.open_timeout_s, self._s.read_timeout_s)) as inp:
                video = next((st for st in inp.streams if st.type == "video"), None)
                if video is None:
                    raise LiveError(502, "the camera sends no video stream")
                self.codec = video.codec_context.name
                if self.codec not in REMUXABLE:
                    raise LiveError(409, f"live view remuxes H.264/HEVC without transcoding; "
                                         f"this camera sends {self.codec}")
                self.opened.set()
                self._remux(inp, video)
        except LiveError as exc:
            self.error = exc.message
        except Exception as exc:  # any FFmpeg failure ends this session, clearly
            self.error = classify(exc, url).message
            log.warning("live pull of %s ended: %s", self.spec.id, self.error)
        finally:
            self.opened.set()

    def _remux(self, inp: av.container.InputContainer, video: av.VideoStream) -> None:
        seg = self._s.live_segment_s
        opts = {"hls_time": f"{seg:g}", "hls_list_size": "6", "hls_allow_cache": "0",
                "hls_flags": "delete_segments+independent_segments+temp_file",
                "hls_segment_filename": str(self.dir / "seg_%05d.ts")}
        with av.open(str(self.dir / PLAYLIST), "w", format="hls", options=opts) as out:
            ostream = out.add_stream_from_template(video)
            pace = source_kind(self.spec.source_url) == "file"  # a file plays at real time, like a camera
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


class EmbeddedLive:
    """Live sessions of this replica, keyed by camera id."""

    def __init__(self, settings: GatewaySettings, root: Path) -> None:
        self._s = settings
        self.root = root
        self.sessions: dict[str, LiveSession] = {}
        self._lock = asyncio.Lock()
        self._reaper: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._reaper = asyncio.create_task(self._reap_loop(), name="live-reaper")

    async def stop(self) -> None:
        if self._reaper:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        for cid in list(self.sessions):
            await self._end(cid)

    async def open(self, spec: CameraSpec) -> LiveSession:
        """Start (or join) the camera's live pull; raises LiveError when it cannot be remuxed."""
        if source_kind(spec.source_url) == "sim":
            raise LiveError(409, "simulated (sim:) cameras have no H.264 stream to remux for live view; "
                                 "use the camera's snapshot instead")
        async with self._lock:
            session = self.sessions.get(spec.id)
            if session is not None and (not session.alive or session.spec.stream_key() != spec.stream_key()):
                await self._end(spec.id)
                session = None
            if session is None:
                session = LiveSession(spec, self.root, self._s)
                session.start()
                self.sessions[spec.id] = session
        session.touch()
        await asyncio.to_thread(session.opened.wait, self._s.open_timeout_s + 1)
        session.touch()  # the grace counts from the end of this request
        if session.error:
            await self._end(spec.id)
            raise LiveError(502 if "live view remuxes" not in session.error else 409,
                            f"live view could not start: {session.error}")
        return session

    def touch(self, camera_id: str) -> LiveSession | None:
        session = self.sessions.get(camera_id)
        if session is None or not session.alive:
            return None
        session.touch()
        return session

    def playlist(self, camera_id: str) -> str | None:
        session = self.touch(camera_id)
        if session is None:
            return None
        with contextlib.suppress(OSError):
            text = (session.dir / PLAYLIST).read_text()
            if "#EXTINF" in text:
                return text
        return ""  # running, first segment not written yet

    def segment(self, camera_id: str, name: str) -> Path | None:
        session = self.touch(camera_id)
        if session is None or not SEGMENT_RE.match(name):
            return None
        path = session.dir / name
        return path if path.is_file() else None

    async def _end(self, camera_id: str) -> None:
        session = self.sessions.pop(camera_id, None)
        if session is not None:
            await asyncio.to_thread(session.stop)
            log.info("live pull of %s stopped", camera_id)

    async def reap(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        for cid, session in list(self.sessions.items()):
            if session.alive and not session.opened.is_set():
                continue  # still opening: a viewer is waiting for it in open()
            if not session.alive or now - session.last_seen > self._s.live_grace_s:
                if not session.alive:
                    log.warning("live pull of %s ended: %s", cid, session.error or "the stream ended")
                await self._end(cid)

    async def _reap_loop(self) -> None:
        interval = max(0.2, min(2.0, self._s.live_grace_s / 2))
        while True:
            await asyncio.sleep(interval)
            try:
                await self.reap()
            except Exception:
                log.exception("live reaper failed")
