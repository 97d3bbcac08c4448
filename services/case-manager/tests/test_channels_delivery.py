"""An alarm reaches phones: a detection becomes a case whose messages reach the site manager's
WeChat and SMS and the township supervisor's DingTalk duty group, as the providers' faithful fakes
on loopback check them; per-class choice; retries, a dead letter per delivery, and its replay."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from cm_channels import Fakes, channels_platform
from cm_demo import DEMO
from cm_pg import fresh_database
from cm_testkit import detection, eventually, login
from pydantic import ValidationError
from sqlalchemy import select, update

from bk_cases.directory.models import User
from bk_cases.notifications.models import DeliveryRecord
from bk_cases.service import CaseService
from bk_cases.settings import CaseSettings
from bkcore.bus.replay import replay
from bkcore.clock import FakeClock

pytestmark = pytest.mark.timeout(90)
T = DEMO.TENANT_ID
MANAGER_PHONE, NORTH_PHONE = "13800138000", "13900139000"  # as the providers get them


@asynccontextmanager
async def platform(
    tmp: Path, clock: FakeClock, *, attempts: int = 3, **settings: object
) -> AsyncIterator[tuple[CaseService, Fakes]]:
    async with channels_platform(tmp, clock, attempts=attempts, **settings) as (svc, fakes):
        async with svc.db.session() as s:  # phones and openids, as the admin API would set them
            await s.execute(
                update(User)
                .where(User.id == f"{T}:manager")
                .values(phone="+86" + MANAGER_PHONE, wechat_openid="o-manager")
            )
            await s.execute(
                update(User)
                .where(User.id == f"{T}:north")
                .values(phone="+86" + NORTH_PHONE, notify_robot="lakeside-duty")
            )
        yield svc, fakes


async def test_class_i_reaches_wechat_sms_and_the_supervisors_dingtalk(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with platform(tmp_path, clock) as (svc, f):
        await svc.ctx.runtime.bus.publish("detections.v1", detection(clock, "rodent"))

        def texts_to(phone: str) -> list:  # type: ignore[type-arg]
            return [r.body for r in f.sms.received if r.body["PhoneNumbers"] == phone]

        async def all_three() -> bool:
            return bool(
                f.wechat.received and texts_to(MANAGER_PHONE) and texts_to(NORTH_PHONE) and f.ding.received
            )

        await eventually(all_three, timeout_s=20)
        assert f.wechat.refused == [] and f.sms.refused == [] and f.ding.refused == []
        wx = f.wechat.received[0].body
        assert wx["touser"] == "o-manager" and wx["template_id"] == "TPL-ALARM"
        assert wx["page"].startswith("pages/cases/detail?id=")
        # Names, not ids, in the tenant's language.
        assert wx["data"]["thing1"] == {"value": "湖滨第一小学食堂"} and wx["data"]["thing5"] == {
            "value": "切配区"
        }
        assert wx["data"]["thing2"] == {"value": "鼠患"}
        sms = texts_to(MANAGER_PHONE)[0]  # Class I: the supervisor is texted too, on every channel
        assert sms["PhoneNumbers"] == MANAGER_PHONE and sms["TemplateCode"] == "SMS_4711"
        assert sms["TemplateParam"]["site"] == "湖滨第一小学食堂" and sms["TemplateParam"]["type"] == "鼠患"
        ding = f.ding.received[0].body
        assert ding["at"]["atMobiles"] == [NORTH_PHONE]
        assert "湖滨第一小学食堂" in ding["markdown"]["text"] and "切配区" in ding["markdown"]["text"]
        assert "lakeside-primary" not in ding["markdown"]["text"]  # no ids in the words
        # The manager's inbox shows the message with how each phone channel went.
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=svc.app), base_url="http://c") as c:
            auth = await login(c, "manager")

            async def with_deliveries() -> list:  # type: ignore[type-arg]
                items = (await c.get("/notifications", headers=auth)).json()["items"]
                return [m for m in items if len(m["deliveries"]) == 2]

            [first, *_] = await eventually(with_deliveries)
            assert {d["channel"]: d["status"] for d in first["deliveries"]} == {
                "sms": "sent",
                "wechat": "sent",
            }
            assert "湖滨第一小学食堂" in first["title"] and "鼠患" in first["title"]


async def test_class_ii_follows_the_persons_choice(tmp_path: Path, clock: FakeClock) -> None:
    async with platform(tmp_path, clock) as (svc, f):
        async with svc.ctx.db.session() as s:
            await s.execute(
                update(User).where(User.id == f"{T}:manager").values(notify_channels={"II": ["sms"]})
            )
        await svc.ctx.runtime.bus.publish("detections.v1", detection(clock, "smoking"))  # Class II

        async def texted() -> bool:
            return bool(f.sms.received and f.ding.received)

        await eventually(texted, timeout_s=20)
        assert f.wechat.received == []  # the manager chose SMS for Class II; no WeChat
        # Their own choice over the API: Class I cannot be narrowed, unknown channels are refused.
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=svc.app), base_url="http://c") as c:
            auth = await login(c, "manager")
            r = await c.put("/notifications/preferences", headers=auth, json={"channels": {"I": ["sms"]}})
            assert r.status_code == 422 and "Class I" in r.text
            r = await c.put("/notifications/preferences", headers=auth, json={"channels": {"II": ["fax"]}})
            assert r.status_code == 422 and "fax" in r.text
            r = await c.put("/notifications/preferences", headers=auth, json={"channels": {"II": ["wechat"]}})
            assert r.status_code == 200 and r.json()["channels"] == {"II": ["wechat"]}
            assert r.json()["reachable"] == ["sms", "wechat"]
            r = await c.put("/notifications/preferences", headers=auth, json={"robot": "no-such-group"})
            assert r.status_code == 422 and "BK_NOTIFY_ROBOTS" in r.text
            r = await c.put("/notifications/preferences", headers=auth, json={"robot": "city-duty"})
            assert r.status_code == 200 and r.json()["robot"] == "city-duty"
            assert r.json()["reachable"] == ["robot", "sms", "wechat"]
            assert r.json()["channels"] == {}  # a PUT states the whole choice


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
async def test_retries_then_a_dead_letter_per_delivery_and_its_replay(
    tmp_path: Path, clock: FakeClock, database: str
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        url = await stack.enter_async_context(fresh_database()) if database == "postgresql" else ""
        svc, f = await stack.enter_async_context(platform(tmp_path, clock, attempts=3, database_url=url))
        await _retries_then_dead_letter(svc, f, clock)


async def _retries_then_dead_letter(svc: CaseService, f: Fakes, clock: FakeClock) -> None:
    f.sms.fail_next(1000, {"Code": "ServiceUnavailable", "Message": "down"}, status=503)
    bus = svc.ctx.runtime.bus
    await bus.publish("detections.v1", detection(clock, "rodent"))

    async def dead() -> list:  # type: ignore[type-arg]
        return [
            d for d in await bus.dead_letters("notifications.v1") if d.headers.get("dlq_channel") == "sms"
        ]  # type: ignore[attr-defined]

    async def four() -> list:  # type: ignore[type-arg]
        # Class I: created and dispatched, each to the manager and to the north supervisor (both
        # have a phone): four SMS deliveries, each dead-lettered on its own after three tries.
        found = await dead()
        return found if len(found) >= 4 else []

    letters = await eventually(four, timeout_s=30)
    assert len(letters) == 4 and {d.headers["dlq_attempts"] for d in letters} == {"3"}
    await eventually(lambda: _true(bool(f.wechat.received)))  # WeChat went out regardless
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=svc.app), base_url="http://c") as c:
        auth = await login(c, "manager")

        async def sms_state() -> dict:  # type: ignore[type-arg]
            items = (await c.get("/notifications", headers=auth)).json()["items"]
            return {d["status"]: d for m in items for d in m["deliveries"] if d["channel"] == "sms"}

        state = await eventually(sms_state)
        assert "dead" in state and "ServiceUnavailable" in state["dead"]["error"]
        wechat_before = len(f.wechat.received)
        f.sms.fail_next(0, {})  # the provider is back: replay the dead letters
        report = await replay(bus, "notifications.v1")  # type: ignore[arg-type]
        assert report.replayed == len(await dead())

        async def all_sent() -> bool:
            s = await sms_state()
            return set(s) == {"sent"}

        await eventually(all_sent, timeout_s=20)
        assert len(f.sms.received) == report.replayed
        assert len(f.wechat.received) == wechat_before  # only the dead channel went again


async def _true(v: bool) -> bool:
    return v


def test_production_refuses_to_start_without_phone_channels() -> None:
    base = dict(
        mode="production",
        bus="kafka",
        kafka_bootstrap="kafka:9092",
        object_store="s3",
        s3_endpoint="minio:9000",
        database_url="postgresql://cases@db/cases",
        url_signing_secret=secrets.token_hex(32),
    )
    with pytest.raises(ValidationError) as exc:
        CaseSettings(**base)
    assert "BK_WECHAT_APP_ID" in str(exc.value) and "BK_SMS_ACCESS_KEY_ID" in str(exc.value)
    channels = dict(
        wechat_app_id="wx-app",
        wechat_app_secret="wx-secret",
        wechat_template_id="TPL",
        sms_access_key_id="LTAI",
        sms_access_key_secret="s",
        sms_sign_name="明厨亮灶",
        sms_template_code="SMS_1",
    )
    with pytest.raises(ValidationError) as exc:
        CaseSettings(**base, **channels)
    assert "alarms must reach phones" not in str(exc.value)
    for one in (  # any one channel that reaches people is enough, or the explicit "no egress" choice
        {k: v for k, v in channels.items() if k.startswith("sms")},
        {"notify_robots": {"duty": {"kind": "wecom", "token": "k"}}},
        {"phone_channels_off": True},
    ):
        with pytest.raises(ValidationError) as exc:
            CaseSettings(**base, **one)
        assert "alarms must reach phones" not in str(exc.value), one
    # A robot token or signing secret copied from the tests is refused by the robot's name.
    copied = {
        "notify_robots": {"duty": {"kind": "dingtalk", "token": "ding-token-for-tests", "secret": "S" * 40}}
    }
    with pytest.raises(ValidationError) as exc:
        CaseSettings(**base, **copied)
    assert "BK_NOTIFY_ROBOTS[duty].token is a known test" in str(exc.value)
    assert "BK_NOTIFY_ROBOTS[duty].secret is a known test" in str(exc.value)  # 40 x "S": not random
    # In every mode: a channel half configured, or a DingTalk robot without its signing secret.
    with pytest.raises(ValidationError, match="BK_SMS_SIGN_NAME is required"):
        CaseSettings(sms_access_key_id="LTAI", sms_access_key_secret="s", sms_template_code="SMS_1")
    with pytest.raises(ValidationError, match="DingTalk robot needs its signing secret"):
        CaseSettings(notify_robots={"duty": {"kind": "dingtalk", "token": "t"}})


async def test_a_provider_down_holds_up_nobodys_next_alarm(tmp_path: Path, clock: FakeClock) -> None:
    # Slow backoff (2 s doubling, five tries): waiting it out inline would hold the next alarm ~30 s.
    async with platform(tmp_path, clock, attempts=5, notify_backoff_s=2.0, notify_backoff_cap_s=30.0) as (
        svc,
        f,
    ):
        f.sms.fail_next(1000, {"Code": "ServiceUnavailable", "Message": "down"}, status=503)
        bus = svc.ctx.runtime.bus
        await bus.publish("detections.v1", detection(clock, "rodent"))

        def alarms_on_wechat() -> set[str]:
            return {
                r.body["page"] for r in f.wechat.received if r.body["data"]["phrase3"]["value"] == "新告警"
            }

        await eventually(lambda: _true(len(alarms_on_wechat()) == 1), timeout_s=20)
        await bus.publish("detections.v1", detection(clock, "fire_unattended", offset_s=1))  # the next alarm
        await eventually(lambda: _true(len(alarms_on_wechat()) == 2), timeout_s=20)
        # The first alarm's SMS is still being retried (not given up) when the next alarm arrives.
        async with svc.ctx.db.session() as s:
            sms = (await s.scalars(select(DeliveryRecord).where(DeliveryRecord.channel == "sms"))).all()
        assert sms and all(r.status in ("retrying", "sending") and r.attempts < 5 for r in sms), [
            (r.status, r.attempts) for r in sms
        ]
