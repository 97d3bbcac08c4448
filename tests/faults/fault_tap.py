"""A tap on the gateway → detector gRPC stream: the truth of what the detector answered.

The gateway is pointed at the tap, the tap at the detector; it relays ``Detector.Detect`` both ways
unchanged and records, for every answered frame, which violation types the detector said were raised
on that camera (``FrameResult.violations``). A violation the detector answered is one the platform
must not lose: the fault tests hold every answered violation to a STARTED event and a case.

It can also play a detector that answers slower than the gateway's timeout (``delay_s``), and call
``on_raised`` just before it forwards the first answer of a newly raised violation (to kill the
detector right after it acknowledged one). It runs on gRPC's own threads, never on the test's loop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass
from datetime import UTC, datetime

import grpc

from bkproto.detector.v1 import detector_pb2 as pb
from bkproto.detector.v1.detector_pb2_grpc import (
    DetectorServicer,
    DetectorStub,
    add_DetectorServicer_to_server,
)

_MESSAGE_BYTES = 64 * 1024 * 1024
_OPTIONS = [
    ("grpc.max_receive_message_length", _MESSAGE_BYTES),
    ("grpc.max_send_message_length", _MESSAGE_BYTES),
]


@dataclass(frozen=True, slots=True)
class AnsweredFrame:
    """One frame the detector answered: its camera, capture time and the violation types raised."""

    camera_id: str
    captured_at: datetime
    violations: frozenset[str]
    answered_at: float  # time.monotonic() when the tap relayed the answer


class DetectorTap(DetectorServicer):  # type: ignore[misc]
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.delay_s = 0.0
        self.on_raised: Callable[[AnsweredFrame, str], None] | None = None
        self._frames: list[AnsweredFrame] = []
        self._active: dict[str, frozenset[str]] = {}  # camera -> types in its last answered frame
        self._lock = threading.Lock()
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="tap"), options=_OPTIONS
        )
        add_DetectorServicer_to_server(self, self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self.address = f"127.0.0.1:{self.port}"

    def __enter__(self) -> DetectorTap:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop(grace=1).wait(5)

    # --- what was answered ---------------------------------------------------------------------

    def answered(self) -> list[AnsweredFrame]:
        with self._lock:
            return list(self._frames)

    def answered_since(self, monotonic: float) -> int:
        with self._lock:
            return sum(1 for f in self._frames if f.answered_at >= monotonic)

    # --- the relay -------------------------------------------------------------------------------

    def GetModelInfo(self, request: pb.ModelInfoRequest, context: grpc.ServicerContext) -> pb.ModelInfo:
        with grpc.insecure_channel(self.upstream, options=_OPTIONS) as channel:
            try:
                return DetectorStub(channel).GetModelInfo(request, timeout=10)
            except grpc.RpcError as exc:
                context.abort(exc.code(), f"detector: {exc.details()}")
                raise  # abort raises; this keeps type checkers content

    def Detect(
        self, request_iterator: Iterator[pb.FrameBatch], context: grpc.ServicerContext
    ) -> Iterator[pb.DetectionBatch]:
        captured: dict[str, datetime] = {}

        def frames() -> Iterator[pb.FrameBatch]:
            for batch in request_iterator:
                for frame in batch.frames:
                    captured[frame.frame_id] = frame.captured_at.ToDatetime(tzinfo=UTC)
                yield batch

        # A channel of its own (no shared subchannel): after the detector was down, a shared one would
        # sit out gRPC's reconnect backoff and hold back a stream the gateway opened to a detector
        # that is back already.
        channel = grpc.insecure_channel(
            self.upstream, options=[*_OPTIONS, ("grpc.use_local_subchannel_pool", 1)]
        )
        call = DetectorStub(channel).Detect(frames())
        context.add_callback(call.cancel)  # the gateway left: so does the upstream stream
        try:
            for answer in call:
                if self.delay_s:
                    self._hold(context)
                self._record(answer, captured)
                yield answer
        except grpc.RpcError as exc:
            if context.is_active():  # the detector went away: the gateway sees its stream fail
                context.abort(grpc.StatusCode.UNAVAILABLE, f"detector {self.upstream}: {exc.code().name}")
        finally:
            call.cancel()
            channel.close()

    def _hold(self, context: grpc.ServicerContext) -> None:
        until = time.monotonic() + self.delay_s
        while context.is_active() and time.monotonic() < until:
            time.sleep(0.05)

    def _record(self, answer: pb.DetectionBatch, captured: dict[str, datetime]) -> None:
        now = time.monotonic()
        for result in answer.results:
            at = captured.pop(result.frame_id, None)
            if at is None or result.error:
                continue
            frame = AnsweredFrame(result.camera_id, at, frozenset(result.violations), now)
            with self._lock:
                before = self._active.get(result.camera_id, frozenset())
                self._active[result.camera_id] = frame.violations
                self._frames.append(frame)
            hook = self.on_raised
            for violation_type in sorted(frame.violations - before):
                if hook is not None:
                    hook(frame, violation_type)
