"""Frames to detectors: one long-lived ``Detector.Detect`` stream per endpoint, fed from one shared
bounded queue.

Affinity: a detector tracks people and votes over consecutive frames of a camera, so all frames of
one camera must reach the same detector. Each camera belongs to one endpoint, chosen by rendezvous
hashing of the camera id over the endpoints whose stream is *connected* (``sharding.owner``): every
stream takes from the queue only its own cameras' frames. A camera moves only when its endpoint goes
down (and moves back when it returns); the other cameras stay where they are.

Backpressure: each stream keeps at most ``detector_max_inflight`` unanswered batches; when a stream
is full (or every detector is gone), frames wait in the bounded queue, where the oldest drop, and
the pull loops never block (``FrameQueue.push``).

No silent stall: every wait of a stream is bounded. A stream that owes answers and gets none for
``detector_timeout_s`` (a hung, vanished or too slow detector) is torn down, its unanswered frames
are counted as lost (``bk_gateway_frames_lost_total``), and it reconnects with backoff. An outage is
logged once with its cause when it starts and once when the detector answers again; the retries in
between are only counted (``bk_gateway_detector_errors_total``).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from bk_gateway import metrics
from bk_gateway.answer_window import AnswerWindow
from bk_gateway.backoff import Backoff
from bk_gateway.discovery import Lookup, PoolResolver, dns_lookup
from bk_gateway.frame_queue import FRAMES_DROPPED, FrameItem, FrameQueue
from bk_gateway.settings import GatewaySettings
from bk_gateway.sharding import owner
from bk_gateway.spec import CameraKey
from bkcore.tasks import cancel_and_wait
from bkproto.detector.v1 import detector_pb2 as pb
from bkproto.detector.v1.detector_pb2_grpc import DetectorStub

log = logging.getLogger(__name__)
ProfileLookup = Callable[[CameraKey], pb.CameraProfile | None]
Router = Callable[[str], str | None]  # camera id -> the endpoint that owns it now (None: none up)
# (tenant_id, camera_id, rules_version, reason): the detector refused that camera's profile
ProfileRefused = Callable[[str, str, int, str], None]
# (tenant_id, camera_id, rules_version): the detector answered a batch carrying it, refusing nothing
ProfileAccepted = Callable[[str, str, int], None]
MAX_BATCH_BYTES = 3 * 1024 * 1024  # stays well under gRPC's default 4 MiB receive limit


def build_batch(items: list[FrameItem], profiles: list[pb.CameraProfile]) -> pb.FrameBatch:
    batch = pb.FrameBatch(batch_id=uuid.uuid4().hex, profiles=profiles)
    for it in items:
        ts = Timestamp()
        ts.FromDatetime(it.captured_at)
        batch.frames.append(
            pb.Frame(
                frame_id=it.frame_id,
                tenant_id=it.tenant_id,
                site_id=it.site_id,
                camera_id=it.camera_id,
                captured_at=ts,
                jpeg=it.jpeg,
                rules_version=it.rules_version,
            )
        )
    return batch


class StreamDown(Exception):
    """Why a detector stream ended; ``reason`` labels the frames it lost."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def why_down(exc: BaseException) -> StreamDown:
    """Any failure of a session as a StreamDown: the cause logged, shown and counted."""
    if isinstance(exc, StreamDown):
        return exc
    if isinstance(exc, asyncio.CancelledError):
        return StreamDown("shutdown", "the gateway stopped the stream")
    if isinstance(exc, grpc.aio.AioRpcError):
        code = exc.code()
        reason = "unavailable" if code == grpc.StatusCode.UNAVAILABLE else "error"
        return StreamDown(reason, f"{code.name}: {exc.details() or 'no details'}")
    return StreamDown("error", f"{type(exc).__name__}: {exc}")


@dataclass(frozen=True, slots=True)
class _Sent:
    """A batch on its way: when it went, its frames, and the profiles it carried."""

    at: float
    items: list[FrameItem]
    profiles: list[tuple[str, str, int]]  # (tenant_id, camera_id, rules_version)


@dataclass
class _Session:
    """One open Detect call: what it owes and what it has told the detector."""

    slots: asyncio.Semaphore
    inflight: dict[str, _Sent] = field(default_factory=dict)
    room: asyncio.Event = field(default_factory=asyncio.Event)  # set on each answer
    collecting: list[FrameItem] = field(default_factory=list)  # taken from the queue, not yet sent
    sent_profiles: dict[CameraKey, int] = field(default_factory=dict)  # a new stream needs every profile
    last_answer: float = 0.0  # when this call last answered (or opened)

    @property
    def frames_inflight(self) -> int:
        return sum(len(sent.items) for sent in self.inflight.values())


class DetectorStream:
    """One endpoint's stream, reopened with backoff whenever it breaks.

    Read by the status API and ``/readyz`` (``ai_status``): ``connected``, ``last_connected``,
    ``last_answer``/``last_answer_at``, ``inflight_batches``, ``model_version``, ``cause`` and, per
    camera, ``answered`` (when its frames were last answered) and ``owed`` (since when it has
    frames sent and unanswered, kept across a torn-down stream: they were never answered)."""

    def __init__(
        self,
        endpoint: str,
        queue: FrameQueue,
        profile_for: ProfileLookup,
        settings: GatewaySettings,
        route: Router | None = None,
        *,
        on_profile_refused: ProfileRefused | None = None,
        on_profile_accepted: ProfileAccepted | None = None,
    ) -> None:
        self.endpoint = endpoint
        self._queue, self._profile_for, self._s = queue, profile_for, settings
        self._route: Router = route or (lambda _camera_id: endpoint)
        self._on_profile_refused, self._on_profile_accepted = on_profile_refused, on_profile_accepted
        self._backoff = Backoff(
            settings.backoff_initial_s, min(settings.backoff_max_s, 10.0), settings.backoff_jitter
        )
        self._session_now: _Session | None = None
        # Frames it may have unanswered: what it answers within a quarter of the timeout (see
        # answer_window); starts small, so a slow detector's first answer comes in time too.
        self.window = AnswerWindow(
            start=min(settings.batch_size, 8),
            most=settings.batch_size * settings.detector_max_inflight,
            target_s=settings.detector_timeout_s / 4,
        )
        self.connected = False
        self.last_connected: float | None = None  # monotonic: when its last open session ended
        self.last_answer: float | None = None  # monotonic, for the rules
        self.last_answer_at: datetime | None = None  # wall time, for people
        self.model_version = ""
        self.cause = ""  # why the stream is down ("" while it is fine)
        self.down_since: float | None = None  # monotonic start of the current outage
        self.failed_attempts = 0  # sessions failed in the current outage
        self.answered: dict[CameraKey, float] = {}  # camera ids are unique per tenant only
        self.owed: dict[CameraKey, float] = {}
        self.batches_answered = 0
        self.frames_sent = 0

    @property
    def inflight_batches(self) -> int:
        return len(self._session_now.inflight) if self._session_now is not None else 0

    # --- the reconnect loop ----------------------------------------------------------------------
    async def run(self) -> None:
        while True:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._went_down(why_down(exc), exc)
            await asyncio.sleep(self._backoff.next_delay())

    def _went_down(self, down: StreamDown, exc: Exception) -> None:
        metrics.DETECTOR_ERRORS.labels(self.endpoint, down.reason).inc()
        self.cause = down.detail
        self.failed_attempts += 1
        if self.down_since is not None:
            log.debug("detector %s still down (attempt %d): %s", self.endpoint, self.failed_attempts, down)
            return
        self.down_since = time.monotonic()
        if isinstance(exc, StreamDown | grpc.aio.AioRpcError):
            log.warning(
                "detector %s stream down (%s): %s; reconnecting with backoff",
                self.endpoint,
                down.reason,
                down.detail,
            )
        else:  # not a detector's doing: a bug of ours, keep its traceback
            log.exception("detector %s stream failed; reconnecting with backoff", self.endpoint)

    def _is_fine(self) -> None:
        """The detector answered (or stayed open owing nothing): an outage, if any, is over."""
        self._backoff.reset()
        if self.down_since is None:
            return
        down_for = time.monotonic() - self.down_since
        log.info(
            "detector %s recovered after %.0f s down and %d failed attempts (last cause: %s)",
            self.endpoint,
            down_for,
            self.failed_attempts,
            self.cause,
        )
        self.down_since, self.failed_attempts, self.cause = None, 0, ""

    # --- one session -----------------------------------------------------------------------------
    async def _session(self) -> None:
        async with grpc.aio.insecure_channel(self.endpoint) as channel:
            try:
                async with asyncio.timeout(self._s.open_timeout_s):
                    await channel.channel_ready()
            except TimeoutError:
                raise StreamDown(
                    "unreachable", f"not reachable within {self._s.open_timeout_s:g} s"
                ) from None
            call = DetectorStub(channel).Detect()
            st = _Session(asyncio.Semaphore(self._s.detector_max_inflight), last_answer=time.monotonic())
            self._session_now = st
            self.connected = True
            reader = asyncio.create_task(self._read(call, st), name=f"detector-read-{self.endpoint}")
            writer = asyncio.create_task(self._write(call, st), name=f"detector-write-{self.endpoint}")
            reason = "shutdown"
            try:
                await self._watch(st, reader, writer)
            except BaseException as exc:
                reason = why_down(exc).reason
                raise
            finally:
                self.connected = False
                self.last_connected = time.monotonic()
                reader.cancel()
                writer.cancel()
                call.cancel()
                try:
                    await asyncio.wait({reader, writer})  # their errors: the cause, raised above
                finally:
                    self._session_now = None
                    self._lose(st, reason)

    def _lose(self, st: _Session, reason: str) -> None:
        """Frames sent (or taken for sending) but never answered: counted, and still owed."""
        lost = list(st.collecting)
        for sent in st.inflight.values():
            lost.extend(sent.items)
            for it in sent.items:
                self.owed.setdefault(it.key, sent.at)
        for it in lost:
            metrics.FRAMES_LOST.labels(it.tenant_id, reason).inc()
        st.inflight.clear()
        st.collecting.clear()

    async def _write(self, call: grpc.aio.StreamStreamCall, st: _Session) -> None:
        while True:
            await st.slots.acquire()  # all slots taken = batches owed: _watch's deadline bounds this
            while st.frames_inflight >= self.window.frames:  # idem: frames owed
                st.room.clear()
                await st.room.wait()
            items = await self._collect(st, min(self._s.batch_size, self.window.frames - st.frames_inflight))
            profiles = self._profiles(items, st.sent_profiles)
            batch = build_batch(items, profiles)
            now = time.monotonic()
            st.inflight[batch.batch_id] = _Sent(
                now, items, [(p.tenant_id, p.camera_id, p.rules_version) for p in profiles]
            )
            st.collecting = []
            for it in items:
                self.owed.setdefault(it.key, now)
            try:
                # A detector that stops reading fills gRPC's window; don't wait on it for ever.
                async with asyncio.timeout(self._s.detector_timeout_s):
                    await call.write(batch)
            except TimeoutError:
                raise StreamDown("timeout", f"took no batch for {self._s.detector_timeout_s:g} s") from None
            metrics.BATCHES_SENT.labels(self.endpoint).inc()
            for it in items:
                metrics.FRAMES_SENT.labels(it.tenant_id).inc()
            self.frames_sent += len(items)

    def _mine(self, item: FrameItem) -> bool:
        return self._route(item.camera_id) == self.endpoint

    async def _collect(self, st: _Session, most: int) -> list[FrameItem]:
        """At least one frame, at most ``most``: waits (polling the queue) until one of this
        stream's frames is there, then fills the batch for up to ``batch_max_wait_s``."""
        items = st.collecting  # on the session, so a teardown now counts them as lost
        deadline: float | None = None
        size = 0
        max_age = timedelta(seconds=self._s.frame_max_age_s)
        while True:
            fresh_after = datetime.now(UTC) - max_age
            stale = 0
            for it in self._queue.take_matching(most - len(items), self._mine):
                if it.captured_at < fresh_after:  # a fresh frame is worth more than a stale one
                    FRAMES_DROPPED.labels(it.tenant_id, "stale").inc()
                    stale += 1
                    continue
                items.append(it)
                size += len(it.jpeg)
            if items and deadline is None:
                deadline = time.monotonic() + self._s.batch_max_wait_s
            if (
                len(items) >= most
                or size >= MAX_BATCH_BYTES
                or (deadline is not None and time.monotonic() >= deadline)
            ):
                return items
            if stale:  # more may wait behind them: look again now, not after a nap
                await asyncio.sleep(0)
                continue
            await asyncio.sleep(0.01 if items else min(0.05, self._s.batch_max_wait_s))

    def _profiles(self, items: list[FrameItem], sent: dict[CameraKey, int]) -> list[pb.CameraProfile]:
        out = []
        for it in items:
            if sent.get(it.key) == it.rules_version:
                continue
            profile = self._profile_for(it.key)
            if profile is not None:
                out.append(profile)
                sent[it.key] = it.rules_version
        return out

    async def _watch(self, st: _Session, reader: asyncio.Task[None], writer: asyncio.Task[None]) -> None:
        """Until the session ends: the reader or the writer failing ends it, and so does an answer
        overdue. The deadline is kept here, not on the read: cancelling a gRPC read cancels the call
        (and an async-iterated call ends for good), so reads are never timed out."""
        opened = time.monotonic()
        timeout = self._s.detector_timeout_s
        while True:
            due = self._answer_due(st)
            wait = timeout if due is None else max(0.01, due - time.monotonic())
            done, _ = await asyncio.wait({reader, writer}, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
                raise StreamDown("error", f"{task.get_name()} ended without a cause")
            due = self._answer_due(st)
            if due is None:
                if time.monotonic() - opened >= timeout:
                    self._is_fine()  # open for a while and owing nothing
            elif time.monotonic() >= due:
                self._set_window(self.window.timed_out, time.monotonic())
                raise StreamDown(
                    "timeout", f"no answer for {timeout:g} s with {len(st.inflight)} batch(es) waiting"
                )

    async def _read(self, call: grpc.aio.StreamStreamCall, st: _Session) -> None:
        while True:
            result = await call.read()  # unbounded here: _watch keeps the deadline
            if result is grpc.aio.EOF:
                raise StreamDown("closed", "the detector ended the stream")
            self._answered(result, st, time.monotonic())

    def _answer_due(self, st: _Session) -> float | None:
        """When the stream must have answered, if it owes anything: the detector timeout after the
        later of its last answer and the oldest unanswered send. A detector that is slow but moving
        (a queue of batches ahead of this one) is kept; one that stops answering is torn down."""
        oldest = min((sent.at for sent in st.inflight.values()), default=None)
        return None if oldest is None else max(oldest, st.last_answer) + self._s.detector_timeout_s

    def _answered(self, result: pb.DetectionBatch, st: _Session, now: float) -> None:
        sent = st.inflight.pop(result.batch_id, None)
        if sent is None:
            log.debug("detector %s answered an unknown batch %s", self.endpoint, result.batch_id)
            return
        st.last_answer = self.last_answer = now
        self.last_answer_at = datetime.now(UTC)
        self.model_version = result.model_version or self.model_version
        self.batches_answered += 1
        metrics.BATCHES_ANSWERED.labels(self.endpoint).inc()
        for it in sent.items:
            metrics.FRAMES_ANSWERED.labels(it.tenant_id).inc()
            self.answered[it.key] = now
            self.owed.pop(it.key, None)
        self._set_window(self.window.answered, len(sent.items), sent.at, now)
        st.room.set()
        st.slots.release()
        self._is_fine()
        self._profile_news(sent, result)

    def _set_window(self, change: Callable[..., None], *args: float) -> None:
        before = self.window.frames
        change(*args)
        if self.window.frames != before:
            metrics.DETECTOR_WINDOW.labels(self.endpoint).set(self.window.frames)

    def _profile_news(self, sent: _Sent, result: pb.DetectionBatch) -> None:
        """What the detector made of the profiles this batch carried: each refused one, and each
        other one accepted. A failing listener must not break the stream: logged, and the answer
        stands."""
        refused = {(r.tenant_id, r.camera_id, r.rules_version) for r in result.refused_profiles}
        try:
            if self._on_profile_refused is not None:
                for r in result.refused_profiles:
                    self._on_profile_refused(r.tenant_id, r.camera_id, r.rules_version, r.reason)
            if self._on_profile_accepted is not None:
                for tenant_id, camera_id, version in sent.profiles:
                    if (tenant_id, camera_id, version) not in refused:
                        self._on_profile_accepted(tenant_id, camera_id, version)
        except Exception:
            log.exception("detector %s: handling its verdict on camera profiles failed", self.endpoint)


class DetectorClient:
    """All detector streams of this gateway replica: one per detector pod.

    Static discovery: one stream per configured endpoint, as written. DNS discovery
    (``detector_discovery=dns``): the configured names are the pool's headless Service, resolved every
    ``detector_resolve_interval_s`` (``discovery.PoolResolver``); a new pod gets a stream, a pod gone
    from DNS is retired: it gets no new frames at once, its unanswered batches have up to
    ``detector_timeout_s`` to come back, then its stream stops.
    """

    def __init__(
        self,
        settings: GatewaySettings,
        queue: FrameQueue,
        profile_for: ProfileLookup,
        *,
        on_profile_refused: ProfileRefused | None = None,
        on_profile_accepted: ProfileAccepted | None = None,
        lookup: Lookup = dns_lookup,
    ) -> None:
        self._s, self._queue, self._profile_for = settings, queue, profile_for
        self._on_profile_refused, self._on_profile_accepted = on_profile_refused, on_profile_accepted
        dns = settings.detector_discovery == "dns"
        self._pool = PoolResolver(settings.endpoints, lookup) if dns else None
        self._streams: dict[str, DetectorStream] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._retiring: set[str] = set()  # gone from DNS: no new frames, answers still read
        self._follower: asyncio.Task[None] | None = None
        if self._pool is None:
            for ep in settings.endpoints:
                self._streams[ep] = self._new_stream(ep)

    @property
    def streams(self) -> list[DetectorStream]:
        return list(self._streams.values())

    def healthy(self) -> list[str]:
        return [ep for ep, s in self._streams.items() if s.connected and ep not in self._retiring]

    def endpoint_for(self, camera_id: str) -> str | None:
        """The endpoint that gets ``camera_id``'s frames: rendezvous over the connected endpoints."""
        return owner(camera_id, self.healthy())

    def start(self) -> None:
        for ep, stream in self._streams.items():
            self._run(ep, stream)
        if self._pool is not None:
            self._follower = asyncio.create_task(self._follow(self._pool), name="detector-discovery")

    async def stop(self) -> None:
        if self._follower is not None:
            await cancel_and_wait(self._follower)
            self._follower = None
        await asyncio.gather(*(cancel_and_wait(t) for t in self._tasks.values()))  # the streams end together
        self._tasks = {}

    def ready(self) -> bool:
        return not self._s.endpoints or bool(self.healthy())

    # --- following the pool ------------------------------------------------------------------------
    async def _follow(self, pool: PoolResolver) -> None:
        while True:
            await self.follow(await pool.resolve())
            await asyncio.sleep(self._s.detector_resolve_interval_s)

    async def follow(self, pods: frozenset[str]) -> None:
        """Make the streams match ``pods``: start the new ones, retire the vanished ones. Rendezvous
        hashing over the connected pods moves only the cameras of a pod that came or went."""
        for ep in sorted(pods - self._streams.keys()):
            log.info("detector pod %s joined the pool", ep)
            self._streams[ep] = stream = self._new_stream(ep)
            self._run(ep, stream)
        gone = sorted(self._streams.keys() - pods)
        if gone:
            await asyncio.gather(*(self._retire(ep) for ep in gone))

    async def _retire(self, ep: str) -> None:
        log.info("detector pod %s left the pool; its cameras move to the other pods", ep)
        self._retiring.add(ep)  # endpoint_for stops naming it: its cameras' next frames go elsewhere
        stream, loop = self._streams[ep], asyncio.get_running_loop()
        deadline = loop.time() + self._s.detector_timeout_s
        # Answers to frames it already has are still worth having. Polled: a stream has no "all
        # answered" event, and this runs once per departing pod.
        while loop.time() < deadline:
            if not (stream.connected and stream.inflight_batches):
                break
            await asyncio.sleep(0.05)
        await cancel_and_wait(self._tasks.pop(ep))  # what is still unanswered is counted lost
        del self._streams[ep]
        self._retiring.discard(ep)

    def _new_stream(self, ep: str) -> DetectorStream:
        return DetectorStream(
            ep,
            self._queue,
            self._profile_for,
            self._s,
            self.endpoint_for,
            on_profile_refused=self._on_profile_refused,
            on_profile_accepted=self._on_profile_accepted,
        )

    def _run(self, ep: str, stream: DetectorStream) -> None:
        self._tasks[ep] = asyncio.create_task(stream.run(), name=f"detector-{ep}")
