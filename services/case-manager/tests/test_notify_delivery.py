"""Delivering notifications.v1: webhooks against a real HTTP server on loopback, the in-app inbox,
Class I despite the cooldown, and a digest as one message."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from cm_demo import DEMO
from cm_testkit import detection, eventually, login, make_runtime
from prometheus_client import REGISTRY

from bk_cases.cases.scheduled import sweep_once
from bk_cases.notifications.delivery import Channels
from bk_cases.notifications.senders import (
    ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookGaveUp,
    WebhookSender,
    sign,
)
from bk_cases.service import CaseService, create_service
from bkcore.bus.base import new_meta
from bkcore.clock import FakeClock
from bkcore.netpolicy import AddressPolicy
from bkproto.events.v1.notifications_pb2 import Channel, NotificationRequested

pytestmark = pytest.mark.timeout(60)
HOOK_SECRET = "hook-secret-for-tests"
LOOPBACK_OK = AddressPolicy(allow_internal=True)  # the receivers run on loopback, as in embedded mode
MANAGER = f"{DEMO.TENANT_ID}:manager"  # the site manager of lakeside-primary


class Receiver:
    """A webhook receiver: answers 503 to the first ``fail_first`` requests (or to all)."""

    def __init__(self, *, fail_first: int = 0, always_fail: bool = False) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self._fail_first, self._always_fail = fail_first, always_fail

    async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        assert scope["type"] == "http"
        body, more = b"", True
        while more:
            msg = await receive()
            body, more = body + msg.get("body", b""), msg.get("more_body", False)
        self.requests.append(({k.decode(): v.decode() for k, v in scope["headers"]}, body))
        failing = self._always_fail or len(self.requests) <= self._fail_first
        await send({"type": "http.response.start", "status": 503 if failing else 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    @property
    def messages(self) -> list[dict]:  # type: ignore[type-arg]
        return [json.loads(b) for _, b in self.requests]


@asynccontextmanager
async def serve(app: Receiver) -> AsyncIterator[str]:
    """Run ``app`` under uvicorn on a free loopback port; yields its URL."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    await eventually(lambda: _true(server.started))
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        server.should_exit = True
        await task


async def _true(value: bool) -> bool:
    return value


@asynccontextmanager
async def service_with_webhook(
    tmp: Path, clock: FakeClock, url: str, attempts: int = 5
) -> AsyncIterator[CaseService]:
    runtime, settings = make_runtime(tmp, clock)
    settings = settings.model_copy(
        update={"webhook_targets": {DEMO.TENANT_ID: [url]}, "webhook_max_attempts": attempts}
    )
    sender = WebhookSender(HOOK_SECRET, max_attempts=attempts, base_s=0.01, cap_s=0.05, policy=LOOPBACK_OK)
    svc = create_service(runtime, settings, Channels(webhook=sender))
    await svc.start()
    await runtime.bus.start()
    await svc.seed_demo(DEMO)
    try:
        yield svc
    finally:
        await runtime.bus.stop()
        await svc.stop()


def note(recipient: str, *, urgent: bool = False) -> NotificationRequested:
    e = NotificationRequested(
        meta=new_meta(tenant_id=DEMO.TENANT_ID, key=recipient, producer="test"),
        notification_id=f"n-{recipient}-{urgent}",
        recipient_id=recipient,
        channel=Channel.CHANNEL_IN_APP,
        template="case_created",
        title="[II] smoking @ lakeside-primary",
        body="case_created",
        urgent=urgent,
    )
    return e


def dead_letters_metric() -> float:
    value = REGISTRY.get_sample_value(
        "bk_notifications_dead_letters_total", {"tenant": DEMO.TENANT_ID, "channel": "webhook"}
    )
    return value or 0.0


async def test_webhook_retries_with_backoff_then_succeeds() -> None:
    receiver = Receiver(fail_first=2)
    delays: list[float] = []

    async def no_wait(s: float) -> None:
        delays.append(s)

    async with serve(receiver) as url:
        sender = WebhookSender(HOOK_SECRET, max_attempts=5, base_s=0.2, sleep=no_wait, policy=LOOPBACK_OK)
        try:
            attempts = await sender.post(url, b'{"hello":"kitchen"}', notification_id="n-1")
        finally:
            await sender.aclose()
    assert attempts == 3 and len(receiver.requests) == 3
    assert 0.1 <= delays[0] <= 0.2 and 0.2 <= delays[1] <= 0.4  # exponential, with jitter
    headers, body = receiver.requests[-1]
    assert headers[ID_HEADER.lower()] == "n-1"
    assert headers[SIGNATURE_HEADER.lower()] == sign(HOOK_SECRET, headers[TIMESTAMP_HEADER.lower()], body)
    assert headers[SIGNATURE_HEADER.lower()] != sign("other-secret", headers[TIMESTAMP_HEADER.lower()], body)


async def test_webhook_gives_up_after_n_attempts_and_dead_letters(tmp_path: Path, clock: FakeClock) -> None:
    receiver = Receiver(always_fail=True)
    before = dead_letters_metric()
    async with serve(receiver) as url, service_with_webhook(tmp_path, clock, url, attempts=3) as svc:
        bus = svc.ctx.runtime.bus
        await bus.publish("notifications.v1", note(MANAGER))

        async def dead() -> list:  # type: ignore[type-arg]
            return await bus.dead_letters("notifications.v1")  # type: ignore[attr-defined,no-any-return]

        [letter] = await eventually(dead)
        assert len(receiver.requests) == 3  # N attempts, then no more
        assert letter.headers["dlq_webhook_url"] == url and letter.headers["dlq_attempts"] == "3"
        assert dead_letters_metric() == before + 1
        # The webhook's failure does not cost the recipient the message: it is in the in-app inbox.
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=svc.app), base_url="http://c") as c:
            auth = await login(c, "manager")

            async def inbox() -> list[str]:
                return [m["id"] for m in (await c.get("/notifications", headers=auth)).json()["items"]]

            assert await eventually(inbox) == [f"n-{MANAGER}-False"]


async def test_webhook_sender_refuses_to_send_unsigned() -> None:
    with pytest.raises(ValueError):
        WebhookSender("")
    assert issubclass(WebhookGaveUp, RuntimeError)


async def test_class_i_delivered_despite_cooldown(tmp_path: Path, clock: FakeClock) -> None:
    receiver = Receiver()
    async with serve(receiver) as url, service_with_webhook(tmp_path, clock, url) as svc:
        bus = svc.ctx.runtime.bus
        await bus.publish("detections.v1", detection(clock, "no_mask"))  # Class III: starts the cooldown
        clock.advance(timedelta(seconds=30))
        await bus.publish("detections.v1", detection(clock, "rodent"))  # Class I, inside the cooldown
        clock.advance(timedelta(seconds=30))
        await bus.publish("detections.v1", detection(clock, "fire_unattended"))  # Class I again

        async def urgent_for_manager() -> list[dict]:  # type: ignore[type-arg]
            return [
                m
                for m in receiver.messages
                if m["recipient_id"] == MANAGER and m["urgent"] and m["template"] == "case_created"
            ]

        await eventually(lambda: _len_at_least(urgent_for_manager, 2), timeout_s=10)
        titles = sorted(m["title"] for m in await urgent_for_manager())
        # In the tenant's language (zh-CN), the case types by name: 鼠患 (rodent), 动火离人 (fire).
        assert any("鼠患" in t for t in titles) and any("动火离人" in t for t in titles)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=svc.app), base_url="http://c") as c:
            auth = await login(c, "manager")

            async def inbox() -> dict:  # type: ignore[type-arg]
                r = await c.get("/notifications", headers=auth)
                return r.json() if r.json()["unread"] >= 4 else {}  # type: ignore[no-any-return]

            page = await eventually(inbox)
            urgent = [m for m in page["items"] if m["urgent"]]
            assert len(urgent) >= 2
            r = await c.post(f"/notifications/{urgent[0]['id']}/read", headers=auth)
            assert r.status_code == 200 and r.json()["read_at"] is not None
            unread = (await c.get("/notifications?unread_only=true", headers=auth)).json()["items"]
            assert urgent[0]["id"] not in {m["id"] for m in unread}  # more may have arrived meanwhile
            # Someone else's message is not there for another user.
            other = await login(c, "noodleboss")
            assert (await c.post(f"/notifications/{urgent[1]['id']}/read", headers=other)).status_code == 404


async def _len_at_least(check, n: int) -> bool:  # type: ignore[no-untyped-def]
    return len(await check()) >= n


async def test_digest_delivered_as_one_message(tmp_path: Path, clock: FakeClock) -> None:
    receiver = Receiver()
    async with serve(receiver) as url, service_with_webhook(tmp_path, clock, url) as svc:
        bus = svc.ctx.runtime.bus
        for i, vtype in enumerate(["no_mask", "no_chef_hat", "no_gloves"]):  # Class III: not urgent
            await bus.publish("detections.v1", detection(clock, vtype, offset_s=i))

        async def for_manager() -> list[dict]:  # type: ignore[type-arg]
            return [m for m in receiver.messages if m["recipient_id"] == MANAGER]

        await eventually(lambda: _len_at_least(for_manager, 1))
        await asyncio.sleep(0.3)
        assert len(await for_manager()) == 1  # the other two are held for the digest
        clock.advance(timedelta(seconds=svc.ctx.settings.notify_cooldown_s + 1))
        assert (await sweep_once(svc.ctx))["digests"] >= 1
        await eventually(lambda: _len_at_least(for_manager, 2))
        await asyncio.sleep(0.3)
        digests = [m for m in await for_manager() if m["template"] == "digest"]
        assert len(digests) == 1 and len(await for_manager()) == 2  # one message, not two
        assert digests[0]["digest_count"] == 2
        assert len(digests[0]["data"]["case_ids"].split(",")) == 2
