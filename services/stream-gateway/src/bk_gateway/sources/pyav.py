"""Real streams through PyAV (FFmpeg): RTSP over TCP, RTMP, HTTP-FLV, HLS, files."""

from __future__ import annotations

import contextlib
import errno
import time
from collections.abc import Iterator

import av
import av.error
from av.codec.hwaccel import HWAccel

from bk_gateway.sources.base import FrameSource, RawFrame, SourceError, SourceInfo
from bk_gateway.sources.frames import AvFrame, Scaler
from bk_gateway.urls import mask_text, source_kind


def _options(url: str, read_timeout_s: float) -> dict[str, str]:
    kind = source_kind(url)
    if kind == "rtsp":
        # TCP: no lost packets behind NATs and firewalls; timeout is FFmpeg's socket I/O timeout (µs).
        return {"rtsp_transport": "tcp", "timeout": str(int(read_timeout_s * 1e6)),
                "allowed_media_types": "video+audio", "fflags": "nobuffer"}
    if kind in ("rtmp", "http", "http-flv", "hls"):
        return {"rw_timeout": str(int(read_timeout_s * 1e6)), "reconnect": "0"}
    return {}


#: What a camera says when NVDEC was asked for and cannot start (the service checks this at start-up).
NVDEC_UNAVAILABLE = ("NVDEC hardware decoding (BK_VIDEO_DECODER=nvdec) cannot start: no NVIDIA GPU with the "
                     "driver's video capability is visible to the gateway (request nvidia.com/gpu and set "
                     "NVIDIA_DRIVER_CAPABILITIES to include video), or set BK_VIDEO_DECODER=software")


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
        errno.ETIMEDOUT, errno.EAGAIN,
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
    def __init__(self, url: str, *, keyframes_only: bool, open_timeout_s: float, read_timeout_s: float,
                 watchdog_s: float, codecs: frozenset[str], skip_deblock: bool = True,
                 decoder: str = "software") -> None:
        self._url = url
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
            self._container = av.open(self._url, options=_options(self._url, self._timeouts[1]),
                                      timeout=self._timeouts, hwaccel=nvdec() if self._hardware else None)
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
        return SourceInfo(codec=codec, width=ctx.width, height=ctx.height,
                          nominal_fps=float(rate) if rate else 0.0)

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
