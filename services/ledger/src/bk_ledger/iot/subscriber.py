"""The ledger's MQTT subscriber (aiomqtt): receive device readings, store them in batches.

Two tasks: the connection (subscribe at QoS 1 on a persistent session, reconnect with exponential
backoff, the outage logged once, ``connected`` for readiness) and the writer (whatever arrived within
``mqtt_flush_s``, up to ``mqtt_batch_max`` messages, in one transaction via ``flows.ingest_messages``).
A bad message is dead-lettered and counted there; it never ends the subscription. If the database
is down the writer keeps the batch and retries; if it is up and a batch still fails, each message is
retried alone and one that fails alone is dead-lettered (``store_failed``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from urllib.parse import urlsplit

import aiomqtt
from prometheus_client import Counter, Gauge

from bk_ledger.common.context import LedgerContext
from bk_ledger.iot import flows, service

log = logging.getLogger("bk_ledger.iot.mqtt")

READINGS = Counter("bk_ledger_mqtt_readings_total", "sensor readings received over MQTT", ["outcome"])
REJECTED = Counter(
    "bk_ledger_mqtt_rejected_total", "MQTT messages dead-lettered (iot_dead_letters)", ["tenant", "reason"]
)
CONNECTED = Gauge("bk_ledger_mqtt_connected", "1 while the ledger is subscribed to the MQTT broker")


def broker_address(url: str) -> tuple[str, int, bool]:
    """(host, port, tls) from ``mqtt://host:port`` or ``mqtts://host:port``."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError(f"mqtt_url must be mqtt://host:port or mqtts://host:port, not {url!r}")
    tls = parts.scheme == "mqtts"
    return parts.hostname, parts.port or (8883 if tls else 1883), tls


class MqttSubscriber:
    def __init__(self, ctx: LedgerContext) -> None:
        self.ctx = ctx
        s = ctx.settings
        self.host, self.port, self.tls = broker_address(s.mqtt_url)
        self.client_id = s.mqtt_client_id or f"bk-ledger-{socket.gethostname()}"
        self.connected = False
        self.received = 0  # messages taken off the broker (tests and the bench wait on these)
        self.handled = 0  # messages stored or dead-lettered
        self._queue: asyncio.Queue[flows.Received] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._connection(), name="ledger-mqtt-connection"),
            asyncio.create_task(self._writer(), name="ledger-mqtt-writer"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self._set_connected(False)

    def _set_connected(self, up: bool) -> None:
        self.connected = up
        CONNECTED.set(1 if up else 0)

    def _client(self) -> aiomqtt.Client:
        s = self.ctx.settings
        return aiomqtt.Client(
            self.host,
            self.port,
            username=s.mqtt_username or None,
            password=s.mqtt_password.get_secret_value() or None,
            identifier=self.client_id,
            # A persistent session: QoS 1 messages that arrive while the ledger restarts wait for it.
            clean_session=not s.mqtt_persistent_session,
            tls_context=ssl.create_default_context() if self.tls else None,
            keepalive=30,
            queue_type=self._handoff(),
        )

    def _handoff(self) -> type[asyncio.Queue[aiomqtt.Message]]:
        """A queue class for the client that hands each message straight to the writer's queue: the
        client's own iterator costs a task and an ``asyncio.wait`` per message, most of the receive
        time for single-reading messages."""
        receive = self._receive

        class Handoff(asyncio.Queue[aiomqtt.Message]):
            def put_nowait(self, item: aiomqtt.Message) -> None:
                receive(item)

        return Handoff

    def _receive(self, message: aiomqtt.Message) -> None:
        payload = message.payload
        if not isinstance(payload, bytes | bytearray):
            payload = b"" if payload is None else str(payload).encode()
        self._queue.put_nowait(flows.Received(message.topic.value, bytes(payload)))
        self.received += 1

    async def _connection(self) -> None:
        s = self.ctx.settings
        backoff, down_since_logged = 0.5, False
        while True:
            try:
                async with self._client() as client:
                    await client.subscribe(s.mqtt_topic, qos=1)
                    self._set_connected(True)
                    log.info(
                        "subscribed to the MQTT broker",
                        extra={"broker": f"{self.host}:{self.port}", "topic": s.mqtt_topic},
                    )
                    backoff, down_since_logged = 0.5, False
                    # Messages reach ``_receive`` through the client's queue (``queue_type``); this
                    # loop only waits for the disconnection, which it raises as MqttError.
                    async for _ in client.messages:
                        pass
            except aiomqtt.MqttError as exc:
                self._set_connected(False)
                if not down_since_logged:  # once per outage, not once per attempt
                    log.warning(
                        "MQTT broker unreachable, reconnecting with backoff",
                        extra={"broker": f"{self.host}:{self.port}", "error": str(exc)},
                    )
                    down_since_logged = True
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, s.mqtt_reconnect_max_s)

    async def _writer(self) -> None:
        s = self.ctx.settings
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            deadline = loop.time() + s.mqtt_flush_s
            while len(batch) < s.mqtt_batch_max:
                if not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                    continue
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), left))
                except TimeoutError:
                    break
            try:
                await self._store(batch)
            except Exception:  # never let one batch end the writer
                log.exception("MQTT batch lost", extra={"messages": len(batch)})
            self.handled += len(batch)

    async def _store(self, batch: list[flows.Received]) -> None:
        delay = 0.5
        while True:
            try:
                await self._apply(batch)
                return
            except Exception:
                if await self.ctx.db.ready():
                    break
                log.warning("database unavailable, MQTT batch kept for retry", exc_info=True)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        log.exception("MQTT batch failed with the database up; retrying message by message")
        for one in batch:
            try:
                await self._apply([one])
            except Exception as exc:
                log.exception("MQTT message failed alone; dead-lettered", extra={"topic": one.topic})
                await self._dead_letter_failed(one, exc)

    async def _dead_letter_failed(self, one: flows.Received, exc: Exception) -> None:
        REJECTED.labels("", "store_failed").inc()
        letter = {
            "received_at": self.ctx.now(),
            "tenant_id": None,
            "sensor_id": None,
            "topic": one.topic[:255],
            "reason": "store_failed",
            "detail": repr(exc)[:255],
            "payload": flows.printable(one.payload, self.ctx.settings.mqtt_dead_letter_payload_chars),
        }
        try:
            async with self.ctx.db.session() as session:
                await service.dead_letter(session, [letter])
        except Exception:  # counted above; the subscription goes on whatever happens here
            log.exception("MQTT dead letter not written", extra={"topic": one.topic})

    async def _apply(self, batch: list[flows.Received]) -> None:
        s = self.ctx.settings
        async with self.ctx.db.session() as session:
            out = await flows.ingest_messages(
                session,
                batch,
                self.ctx.now(),
                max_readings=s.ingest_max_batch,
                payload_chars=s.mqtt_dead_letter_payload_chars,
            )
        READINGS.labels("stored").inc(out.stored)
        READINGS.labels("duplicate").inc(out.duplicates)
        for (tenant, reason), n in out.rejected.items():
            REJECTED.labels(tenant, reason).inc(n)
        if out.alerts:
            self.ctx.alerts_written()
