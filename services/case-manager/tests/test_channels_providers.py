"""Each phone channel against its faithful fake on loopback (``bkcore.testing.notify_providers``):
the exact request as the provider documents it, and the provider's refusals of a wrong one."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest

from bk_cases.notifications.providers import Address, Alarm, DeliveryFailed
from bk_cases.notifications.robots import Robot, RobotSender
from bk_cases.notifications.sms import AliyunSmsSender, signature
from bk_cases.notifications.wechat import WeChatSubscribeSender
from bkcore.testing.notify_providers import (
    FakeAliyunSms,
    FakeDingTalk,
    FakeWeChat,
    FakeWeCom,
    aliyun_expected_signature,
    serve,
)

pytestmark = pytest.mark.timeout(60)
KEYWORDS = {"thing1": "site", "thing2": "type", "phrase3": "status", "time4": "time", "thing5": "camera"}
ALARM = Alarm(
    notification_id="5b0e0c3e-0000-4000-8000-000000000001",
    title="【一级新告警】湖滨第一小学食堂 鼠患",
    body="2026年9月1日 08:30 湖滨第一小学食堂 · 切配区 发现「鼠患」。",
    fields={
        "site": "湖滨第一小学食堂（湖北街道湖滨路十八号校区东侧）",  # longer than a thing's 20 characters
        "type": "鼠患",
        "status": "新告警",
        "time": "2026年9月1日 08:30",
        "camera": "切配区",
        "risk_class": "一级",
    },
    case_id="case-1",
    urgent=True,
)
ADDRESS = Address(wechat_openid="o-manager-openid", phone="13800138000", robot="duty")


def wechat_fake() -> FakeWeChat:
    return FakeWeChat(
        app_id="wx-app", app_secret="wx-secret", template_id="TPL-ALARM", keywords=list(KEYWORDS)
    )


def wechat_sender(base: str, **kw) -> WeChatSubscribeSender:  # type: ignore[no-untyped-def]
    args = dict(app_id="wx-app", app_secret="wx-secret", template_id="TPL-ALARM", keywords=KEYWORDS)
    return WeChatSubscribeSender(**{**args, **kw}, base_url=base)  # type: ignore[arg-type]


@asynccontextmanager
async def running(fake, make):  # type: ignore[no-untyped-def]
    async with serve(fake.app) as base:
        sender = make(base)
        try:
            yield sender
        finally:
            await sender.aclose()


async def test_wechat_subscribe_message_is_the_documented_request() -> None:
    fake = wechat_fake()
    async with running(fake, wechat_sender) as sender:
        await sender.send(ADDRESS, ALARM)
        await sender.send(ADDRESS, ALARM)
    assert fake.refused == [] and len(fake.received) == 2
    assert fake.token_requests == 1  # the token is cached, not fetched per message
    body = fake.received[0].body
    assert body["touser"] == "o-manager-openid" and body["template_id"] == "TPL-ALARM"
    assert body["page"] == "pages/cases/detail?id=case-1" and body["miniprogram_state"] == "formal"
    assert body["data"]["thing1"]["value"] == "湖滨第一小学食堂（湖北街道湖滨路十八号…"  # cut to 20
    assert len(body["data"]["thing1"]["value"]) == 20
    assert body["data"]["time4"] == {"value": "2026年9月1日 08:30"}
    assert body["data"]["phrase3"] == {"value": "新告警"} and body["data"]["thing5"] == {"value": "切配区"}
    assert body["lang"] == "zh_CN"


async def test_wechat_speaks_english_to_an_english_tenant() -> None:
    fake = wechat_fake()
    fields = {**ALARM.fields, "type": "rodent"}  # the type in English; status and time stay Chinese
    english = Alarm(notification_id="n-en", title="T", body="B", fields=fields, locale="en")
    async with running(fake, wechat_sender) as sender:
        await sender.send(ADDRESS, english)
    assert fake.refused == [] and fake.received[0].body["lang"] == "en_US"


async def test_wechat_token_expired_is_renewed_and_the_message_sent() -> None:
    fake = wechat_fake()
    async with running(fake, wechat_sender) as sender:
        await sender.send(ADDRESS, ALARM)
        fake.expire_tokens()  # WeChat answers 42001 to the cached token now
        await sender.send(ADDRESS, ALARM)
    assert [why for why, _ in fake.refused] == ["expired"]
    assert fake.token_requests == 2 and len(fake.received) == 2


async def test_wechat_refusals_are_final_or_retryable_as_wechat_means_them() -> None:
    fake = wechat_fake()
    fake.consents = {"o-manager-openid": 1}  # one consent: one message
    async with running(fake, wechat_sender) as sender:
        await sender.send(ADDRESS, ALARM)
        with pytest.raises(DeliveryFailed) as no_consent:
            await sender.send(ADDRESS, ALARM)
        fake.consents = None
        fake.fail_next(1, {"errcode": -1, "errmsg": "system error"})
        with pytest.raises(DeliveryFailed) as busy:
            await sender.send(ADDRESS, ALARM)
    assert "43101" in str(no_consent.value) and not no_consent.value.retryable
    assert busy.value.retryable
    # A template with other keywords than WeChat knows is refused (47003), for good.
    async with running(fake, lambda b: wechat_sender(b, keywords={"thing9": "site"})) as sender:
        with pytest.raises(DeliveryFailed) as wrong:
            await sender.send(ADDRESS, ALARM)
    assert "47003" in str(wrong.value) and not wrong.value.retryable
    async with running(fake, lambda b: wechat_sender(b, app_secret="not-the-secret")) as sender:
        with pytest.raises(DeliveryFailed) as bad_secret:
            await sender.send(ADDRESS, ALARM)
    assert "40125" in str(bad_secret.value) and not bad_secret.value.retryable


def sms_fake() -> FakeAliyunSms:
    return FakeAliyunSms(
        access_key_id="LTAI-for-tests",
        access_key_secret="sms-secret",
        sign_name="明厨亮灶",
        template_code="SMS_4711",
        variables=["site", "type", "time"],
    )


def sms_sender(base: str, **kw) -> AliyunSmsSender:  # type: ignore[no-untyped-def]
    args = dict(
        access_key_id="LTAI-for-tests",
        access_key_secret="sms-secret",
        sign_name="明厨亮灶",
        template_code="SMS_4711",
        template_params={"site": "site", "type": "type", "time": "time"},
    )
    return AliyunSmsSender(**{**args, **kw}, base_url=base)  # type: ignore[arg-type]


def test_aliyun_signature_matches_the_documented_example() -> None:
    # Aliyun's signature document works this request through with the secret "testsecret".
    params = {
        "Timestamp": "2016-02-23T12:46:24Z",
        "Format": "XML",
        "AccessKeyId": "testid",
        "Action": "DescribeRegions",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
        "Version": "2014-05-26",
        "SignatureVersion": "1.0",
    }
    assert signature("testsecret", "GET", params) == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
    assert aliyun_expected_signature("testsecret", "GET", params) == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="


async def test_aliyun_sendsms_is_signed_and_shaped_as_documented() -> None:
    fake = sms_fake()
    async with running(fake, sms_sender) as sender:
        ref = await sender.send(ADDRESS, ALARM)
        await sender.send(ADDRESS, ALARM)  # a fresh nonce each time, or Aliyun refuses it
    assert fake.refused == [] and ref == "biz-1"
    p = fake.received[0].body
    assert (
        p["PhoneNumbers"] == "13800138000" and p["SignName"] == "明厨亮灶" and p["TemplateCode"] == "SMS_4711"
    )
    assert p["TemplateParam"] == {"site": ALARM.fields["site"], "type": "鼠患", "time": "2026年9月1日 08:30"}
    assert p["OutId"] == ALARM.notification_id and p["RegionId"] == "cn-hangzhou"
    assert p["SignatureNonce"] != fake.received[1].body["SignatureNonce"]


async def test_aliyun_refuses_a_wrong_signature_a_stale_timestamp_and_a_bad_number() -> None:
    fake = sms_fake()
    async with running(fake, lambda b: sms_sender(b, access_key_secret="wrong")) as sender:
        with pytest.raises(DeliveryFailed) as bad:
            await sender.send(ADDRESS, ALARM)
    assert "SignatureDoesNotMatch" in str(bad.value) and not bad.value.retryable
    stale = lambda: datetime.now(UTC) - timedelta(minutes=20)  # noqa: E731
    async with running(fake, lambda b: sms_sender(b, now=stale)) as sender:
        with pytest.raises(DeliveryFailed) as late:
            await sender.send(ADDRESS, ALARM)
    assert "InvalidTimeStamp.Expired" in str(late.value)
    async with running(fake, lambda b: sms_sender(b, template_params={"site": "site"})) as sender:
        with pytest.raises(DeliveryFailed) as missing:
            await sender.send(ADDRESS, ALARM)
    assert "isv.TEMPLATE_MISSING_PARAMETERS" in str(missing.value)
    async with running(fake, sms_sender) as sender:
        with pytest.raises(DeliveryFailed) as number:
            await sender.send(Address(phone="12345"), ALARM)
        fake.fail_next(1, {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "flow control"})
        with pytest.raises(DeliveryFailed) as throttled:
            await sender.send(ADDRESS, ALARM)
    assert "isv.MOBILE_NUMBER_ILLEGAL" in str(number.value) and not number.value.retryable
    assert throttled.value.retryable
    assert fake.received == []


@asynccontextmanager
async def robots(
    wecom: FakeWeCom, ding: FakeDingTalk, secret: str = "SEC-ding-for-tests"
) -> AsyncIterator[RobotSender]:
    async with serve(wecom.app) as wbase, serve(ding.app) as dbase:
        sender = RobotSender(
            {
                "duty": Robot("dingtalk", "ding-token-for-tests", secret),
                "wecom-duty": Robot("wecom", "wecom-key-for-tests"),
            },
            wecom_base=wbase,
            dingtalk_base=dbase,
        )
        try:
            yield sender
        finally:
            await sender.aclose()


async def test_dingtalk_robot_signed_markdown_mentions_the_person() -> None:
    wecom, ding = (
        FakeWeCom(keys=["wecom-key-for-tests"]),
        FakeDingTalk(robots={"ding-token-for-tests": "SEC-ding-for-tests"}),
    )
    async with robots(wecom, ding) as sender:
        await sender.send(ADDRESS, ALARM)
    assert ding.refused == []
    [got] = ding.received
    assert got.body["msgtype"] == "markdown" and got.body["markdown"]["title"] == ALARM.title
    assert "@13800138000" in got.body["markdown"]["text"] and "切配区" in got.body["markdown"]["text"]
    assert got.body["at"] == {"atMobiles": ["13800138000"], "isAtAll": False}
    assert got.query["access_token"] == "ding-token-for-tests"


async def test_dingtalk_refuses_a_wrong_sign_and_throttling_is_retryable() -> None:
    wecom, ding = (
        FakeWeCom(keys=["wecom-key-for-tests"]),
        FakeDingTalk(robots={"ding-token-for-tests": "SEC-ding-for-tests"}),
    )
    async with robots(wecom, ding, secret="SEC-other-for-tests") as sender:
        with pytest.raises(DeliveryFailed) as bad:
            await sender.send(ADDRESS, ALARM)
    assert "310000" in str(bad.value) and not bad.value.retryable
    async with robots(wecom, ding) as sender:
        ding.fail_next(1, {"errcode": 130101, "errmsg": "send too fast"})
        with pytest.raises(DeliveryFailed) as fast:
            await sender.send(ADDRESS, ALARM)
    assert fast.value.retryable and ding.received == []


async def test_wecom_robot_text_with_mention_and_markdown_without() -> None:
    wecom, ding = (
        FakeWeCom(keys=["wecom-key-for-tests"]),
        FakeDingTalk(robots={"ding-token-for-tests": "SEC-ding-for-tests"}),
    )
    async with robots(wecom, ding) as sender:
        await sender.send(Address(phone="13800138000", robot="wecom-duty"), ALARM)
        await sender.send(Address(robot="wecom-duty"), ALARM)
        with pytest.raises(DeliveryFailed) as unknown:
            await sender.send(Address(robot="nobody"), ALARM)
    assert wecom.refused == [] and not unknown.value.retryable
    text, md = (r.body for r in wecom.received)
    assert text["msgtype"] == "text" and text["text"]["mentioned_mobile_list"] == ["13800138000"]
    assert ALARM.title in text["text"]["content"]
    assert md["msgtype"] == "markdown" and md["markdown"]["content"].startswith(f"**{ALARM.title}**")
    assert json.dumps(md, ensure_ascii=False).count("鼠患") >= 1
