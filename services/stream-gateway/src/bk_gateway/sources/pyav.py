"""Real streams through PyAV (FFmpeg): RTSP over TCP, RTMP, HTTP-FLV, HLS, files.

Every URL a camera gives is opened through ``open_input``: the source policy first (files only
under the tenant's media directory, network hosts resolved, checked and pinned), then FFmpeg with a
protocol and a format whitelist for that kind of source, so nothing inside the stream (a playlist
entry, an SDP, a concat list) can make FFmpeg open a file or another protocol. HTTP sources are
fetched by ``http_io.PinnedHttp``, which holds every request of the stream to the policy.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import time
from collections.abc import Iterator

import av
import av.error
from av.codec.hwaccel import HWAccel

from bk_gateway.source_policy import SourcePolicy, SourceRefused, Target
from bk_gateway.sources.base import FrameSource, RawFrame, SourceError, SourceInfo
from bk_gateway.sources.frames import AvFrame, Scaler
from bk_gateway.sources.http_io import PinnedHttp
from bk_gateway.urls import mask_text, source_kind

log = logging.getLogger(__name__)
#: FFmpeg protocols each kind of source may use; never file (but for files), concat, subfile, data,
#: pipe, crypto, rtp or udp. RTSP is pulled over TCP (RTP interleaved in the RTSP connection).
PROTOCOLS = {
    "rtsp": "rtsp,rtsps,tcp,tls",
    "rtmp": "rtmp,rtmps,tcp,tls",
    "http-flv": "http,https,tcp,tls",
    "hls": "http,https,tcp,tls",
    "http": "http,https,tcp,tls",
    "file": "file",
}
#: Self-contained containers: none of them refers to other files or URLs (no hls, concat, sdp, image2).
_CONTAINERS = "matroska,mov,mpegts,flv,live_flv,avi,mjpeg,mpjpeg,h264,hevc"
#: Demuxers each kind may end up in (FFmpeg refuses to probe its way into any other).
FORMATS = {
    "rtsp": "rtsp",
    "rtmp": "flv,live_flv",
    "http-flv": "flv,live_flv",
    "hls": "hls,mpegts,mov,aac,mp3",
    "http": _CONTAINERS,
    "file": _CONTAINERS,
}
#: Formats named up front where the kind says it (the URL's extension): no probing at all.
FORCED = {"http-flv": "flv", "hls": "hls"}


def _options(url: str, read_timeout_s: float) -> dict[str, str]:
    kind = source_kind(url)
    whitelist = (
        {"protocol_whitelist": PROTOCOLS[kind], "format_whitelist": FORMATS[kind]}
        if kind in PROTOCOLS
        else {}
    )
    if kind == "rtsp":
        # TCP: no lost packets behind NATs and firewalls; timeout is FFmpeg's socket I/O timeout (µs).
        return {
            "rtsp_transport": "tcp",
            "timeout": str(int(read_timeout_s * 1e6)),
            "allowed_media_types": "video+audio",
            "fflags": "nobuffer",
            **whitelist,
        }
    if kind == "hls":
        # Segments come through PinnedHttp (io_open), one request each: FFmpeg's keep-alive reuse
        # needs its own HTTP client under the connection (it asserts one).
        return {"http_persistent": "0", **whitelist}
    if kind in ("rtmp", "http", "http-flv"):
        return {"rw_timeout": str(int(read_timeout_s * 1e6)), "reconnect": "0", **whitelist}
    return whitelist


def open_input(
    url: str,
    *,
    policy: SourcePolicy | None,
    tenant_id: str,
    open_timeout_s: float,
    read_timeout_s: float,
    hwaccel: HWAccel | None = None,
) -> av.container.InputContainer:
    """Open a camera URL for reading, held to ``policy`` (None: the caller vouches for the URL, as
    tests and benchmarks do with their own files). Raises SourceRefused, or FFmpeg's errors."""
    target = policy.target(url, tenant_id) if policy is not None else Target(source_kind(url), url, "")
    kind = target.kind
    timeouts = (open_timeout_s, read_timeout_s)
    if kind in ("http", "http-flv", "hls"):
        if policy is None:
            raise SourceRefused("an HTTP source needs a policy to fetch it")
        # The original URL, not the pinned one: every request (this one, playlists, segments,
        # redirects) is resolved, checked and pinned in PinnedHttp.
        opener = PinnedHttp(policy, tenant_id, timeout_s=read_timeout_s)
        return av.open(
            url,
            options=_options(url, read_timeout_s),
            format=FORCED.get(kind),
            timeout=timeouts,
            hwaccel=hwaccel,
            io_open=opener,
        )
    return av.open(
        target.url, options=_options(target.url, read_timeout_s), timeout=timeouts, hwaccel=hwaccel
    )


#: What a camera says when NVDEC was asked for and cannot start (the service checks this at start-up).
NVDEC_UNAVAILABLE = (
    "NVDEC hardware decoding (BK_VIDEO_DECODER=nvdec) cannot start: no NVIDIA GPU with the "
    "driver's video capability is visible to the gateway (request nvidia.com/gpu and set "
    "NVIDIA_DRIVER_CAPABILITIES to include video), or set BK_VIDEO_DECODER=software"
)


def nvdec() -> HWAccel:
    """Decoding on the GPU's NVDEC, the frames copied back to the host for sampling and checks.

    Every camera shares the process's primary CUDA context: a context per camera would cost hundreds of
    MB of GPU memory each. A codec NVDEC cannot decode (rawvideo, say) stays in software for that camera,
    which its status shows; a missing GPU is an error, never a silent fall back to the CPU.
    """
    return HWAccel(device_type="cuda", allow_software_fallback=True, options={"primary_ctx": "1"})


def check_nvdec() -> None:
    """Raise SourceError("decoder_unavailable") unless this process can open an NVDEC decoder."""
    try:
        nvdec().create(av.Codec("h264", "r"))
    except Exception as exc:
        detail = f"{type(exc).__name__}: {exc}"
        raise SourceError("decoder_unavailable", f"{NVDEC_UNAVAILABLE} ({detail})") from None


def classify(exc: BaseException, url: str, *, hardware: bool = False) -> SourceError:
    """Turn FFmpeg's many errors into a few stable kinds an operator can act on."""
    message = mask_text(str(exc))
    if isinstance(exc, SourceError):
        return exc
    if isinstance(exc, SourceRefused):
        # One sentence whatever the cause (refused, unresolvable, internal must look alike to the
        # tenant); which address and which rule, for the operator, only here in the log.
        log.warning("source refused by the address policy: %s", exc.cause)
        return SourceError("refused", exc.public)
    if hardware and isinstance(exc, av.error.PermissionError):
        # FFmpeg's answer when the CUDA device cannot be created (no GPU, no driver, no video capability).
        return SourceError("decoder_unavailable", NVDEC_UNAVAILABLE)
    if isinstance(exc, av.error.HTTPUnauthorizedError | av.error.HTTPForbiddenError):
        return SourceError("unauthorized", "the camera refused the credentials (wrong user or password)")
    if isinstance(exc, av.error.HTTPNotFoundError):
        return SourceError("not_found", "the camera has no stream at this path")
    if isinstance(exc, av.error.DecoderNotFoundError):
        return SourceError("unsupported_codec", f"no decoder for this stream: {message}")
    if isinstance(exc, av.error.InvalidDataError):
        return SourceError("invalid_data", f"the source does not send a valid media stream: {message}")
    if isinstance(exc, av.error.ExitError | TimeoutError) or getattr(exc, "errno", None) in (
        errno.ETIMEDOUT,
        errno.EAGAIN,
    ):
        return SourceError("timeout", f"no answer from the camera in time: {message}")
    if isinstance(exc, ConnectionRefusedError) or getattr(exc, "errno", None) == errno.ECONNREFUSED:
        return SourceError("unreachable", "connection refused")
    if getattr(exc, "errno", None) in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ECONNRESET, errno.EPIPE):
        return SourceError("unreachable", message)
    if isinstance(exc, FileNotFoundError) or getattr(exc, "errno", None) == errno.ENOENT:
        return SourceError("not_found", message)
    if "401" in message or "Unauthorized" in message:
        return SourceError("unauthorized", "the camera refused the credentials (wrong user or password)")
    if "404" in message or "Not Found" in message:
        return SourceError("not_found", "the camera has no stream at this path")
    return SourceError("error", f"{type(exc).__name__}: {message}")


class PyAVSource(FrameSource):
    def __init__(
        self,
        url: str,
        *,
        keyframes_only: bool,
        open_timeout_s: float,
        read_timeout_s: float,
        watchdog_s: float,
        codecs: frozenset[str],
        skip_deblock: bool = True,
        decoder: str = "software",
        policy: SourcePolicy | None = None,
        tenant_id: str = "",
    ) -> None:
        self._url = url
        self._policy, self._tenant = policy, tenant_id
        self._keyframes_only = keyframes_only
        self._skip_deblock = skip_deblock
        self._hardware = decoder == "nvdec"
        self._timeouts = (open_timeout_s, read_timeout_s)
        self._watchdog_s = watchdog_s
        self._codecs = codecs
        self._container: av.container.InputContainer | None = None
        self._video: av.video.stream.VideoStream | None = None
        self._rgb, self._probe = Scaler(), Scaler()  # one swscale context each, for all frames

    def open(self) -> SourceInfo:
        try:
            self._container = open_input(
                self._url,
                policy=self._policy,
                tenant_id=self._tenant,
                open_timeout_s=self._timeouts[0],
                read_timeout_s=self._timeouts[1],
                hwaccel=nvdec() if self._hardware else None,
            )
        except Exception as exc:
            raise classify(exc, self._url, hardware=self._hardware) from None
        if not self._container.streams.video:
            self.close()
            raise SourceError("no_video", "the stream has no video track (audio only?)")
        video = self._video = self._container.streams.video[0]
        ctx = video.codec_context
        codec = ctx.name if ctx is not None else "unknown"
        if codec not in self._codecs:
            self.close()
            raise SourceError("unsupported_codec", f"video codec {codec!r} is not supported")
        # One decoding thread per camera: at hundreds of cameras per core, threads per stream only add
        # switching. Keyframes-only also tells the decoder to drop everything else.
        ctx.thread_count = 1
        if self._keyframes_only:
            ctx.skip_frame = "NONKEY"
            if self._skip_deblock and not ctx.is_hwaccel:
                # Every decoded frame is an IDR here, so skipping its deblocking filter cannot drift
                # into later frames; it saves ~10% of a 1080p keyframe's decode for a picture the
                # detector sees downscaled anyway.
                ctx.options = {**ctx.options, "skip_loop_filter": "all"}
        rate = video.average_rate or video.guessed_rate
        return SourceInfo(
            codec=codec, width=ctx.width, height=ctx.height, nominal_fps=float(rate) if rate else 0.0
        )

    @property
    def decoder(self) -> str:
        """nvdec while NVDEC decodes this stream. FFmpeg hands a stream NVDEC cannot take (a profile or
        size it lacks) back to software at its first frame, which the codec's pixel format then shows."""
        ctx = self._video.codec_context if self._video is not None else None
        return "nvdec" if ctx is not None and ctx.is_hwaccel and ctx.pix_fmt == "cuda" else "software"

    def frames(self) -> Iterator[RawFrame]:
        assert self._container is not None and self._video is not None, "open() first"
        video = self._video
        last_video = time.monotonic()
        try:
            # Demux every stream, not only video: an audio-only or stalled video track then shows up
            # as packets without video frames, which the watchdog catches, instead of a silent block.
            for packet in self._container.demux():
                now = time.monotonic()
                if packet.stream is not video:
                    if now - last_video > self._watchdog_s:
                        raise SourceError("stalled", f"no video for {self._watchdog_s:.0f}s (audio only?)")
                    continue
                if packet.size == 0:
                    continue  # flush packet at the end of the stream
                if self._keyframes_only and not packet.is_keyframe:
                    if now - last_video > self._watchdog_s:
                        raise SourceError("stalled", f"no keyframe for {self._watchdog_s:.0f}s")
                    continue  # never decoded: the whole point of keyframes-only
                for frame in packet.decode():
                    last_video = now
                    t = frame.time if frame.time is not None else now
                    yield AvFrame(frame, t, rgb=self._rgb, probe=self._probe)
        except SourceError:
            raise
        except av.error.EOFError:
            return
        except Exception as exc:
            raise classify(exc, self._url, hardware=self._hardware) from None

    def close(self) -> None:
        if self._container is not None:
            # Closing a broken connection may fail again; there is nothing left to do about it.
            with contextlib.suppress(Exception):
                self._container.close()
            self._container = None
