"""Group robots (群机器人) of supervisors' duty groups: WeCom (企业微信) and DingTalk (钉钉).

WeCom: ``POST /cgi-bin/webhook/send?key=<key>`` with ``{"msgtype": "text", "text": {"content": …,
"mentioned_mobile_list": [phone]}}`` (content ≤ 2048 bytes; the mention makes the person's phone ring)
or ``{"msgtype": "markdown", "markdown": {"content": …}}`` (≤ 4096 bytes) when there is no one to
mention. DingTalk: ``POST /robot/send?access_token=<token>&timestamp=<ms>&sign=<sign>`` where
``sign`` = urlencode(base64(HMAC-SHA256(key=secret, timestamp + "\\n" + secret))), the timestamp
within an hour of DingTalk's clock, and the body ``{"msgtype": "markdown", "markdown": {"title",
"text"}, "at": {"atMobiles": [phone], "isAtAll": false}}`` (the text names ``@phone`` so the mention
shows). Both answer ``{"errcode": 0, "errmsg": "ok"}``; a robot may send 20 messages a minute.

A person's duty group is named on them (``users.notify_robot``); the robots themselves (kind, key or
token, signing secret) are configuration (``BK_NOTIFY_ROBOTS``), never data in the database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote_plus

import httpx

from bk_cases.notifications.providers import (
    Address,
    Alarm,
    ChannelName,
    DeliveryFailed,
    json_answer,
    national_mobile,
    transport_failure,
)

WECOM_BASE = "https://qyapi.weixin.qq.com"
DINGTALK_BASE = "https://oapi.dingtalk.com"
#: Too many messages this minute (WeCom 45009, DingTalk 130101) or a busy server (-1): later may pass.
RETRYABLE = frozenset({-1, 45009, 130101})


@dataclass(frozen=True, slots=True)
class Robot:
    kind: Literal["wecom", "dingtalk"]
    token: str  # WeCom: the webhook ``key``; DingTalk: the ``access_token``
    secret: str = ""  # DingTalk's signing secret (加签, SEC…); required for DingTalk


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's ``sign`` query value, already URL-encoded as DingTalk documents it."""
    mac = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256)
    return quote_plus(base64.b64encode(mac.digest()).decode())


def cut_bytes(text: str, limit: int) -> str:
    """At most ``limit`` UTF-8 bytes, never splitting a character."""
    raw = text.encode()
    return text if len(raw) <= limit else raw[: limit - 3].decode(errors="ignore") + "…"


def _reference(alarm: Alarm) -> str:
    """The case number, so the duty group can find the case on the console."""
    return f"\n案件编号 Case {alarm.case_id}" if alarm.case_id else ""


def wecom_body(alarm: Alarm, phone: str) -> dict[str, object]:
    if phone:
        text = f"{alarm.title}\n{alarm.body}{_reference(alarm)}"
        return {
            "msgtype": "text",
            "text": {"content": cut_bytes(text, 2048), "mentioned_mobile_list": [phone]},
        }
    return {
        "msgtype": "markdown",
        "markdown": {"content": cut_bytes(f"**{alarm.title}**\n{alarm.body}{_reference(alarm)}", 4096)},
    }


def dingtalk_body(alarm: Alarm, phone: str) -> dict[str, object]:
    mention = f"\n\n@{phone}" if phone else ""
    text = f"### {alarm.title}\n\n{alarm.body}\n{_reference(alarm)}{mention}"
    return {
        "msgtype": "markdown",
        "markdown": {"title": alarm.title, "text": cut_bytes(text, 5000)},
        "at": {"atMobiles": [phone] if phone else [], "isAtAll": False},
    }


class RobotSender:
    """Posts to the person's duty-group robot, whichever kind it is."""

    name = ChannelName.ROBOT

    def __init__(
        self,
        robots: Mapping[str, Robot],
        *,
        wecom_base: str = WECOM_BASE,
        dingtalk_base: str = DINGTALK_BASE,
        timeout_s: float = 5.0,
        client: httpx.AsyncClient | None = None,
        now_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        for name, robot in robots.items():
            if not robot.token or (robot.kind == "dingtalk" and not robot.secret):
                raise ValueError(
                    f"robot {name!r}: a {robot.kind} robot needs its token"
                    + (" and signing secret" if robot.kind == "dingtalk" else "")
                )
        self._robots = dict(robots)
        self._wecom, self._dingtalk = wecom_base.rstrip("/"), dingtalk_base.rstrip("/")
        self._client = client or httpx.AsyncClient(timeout=timeout_s)
        self._now_ms = now_ms

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._robots)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(self, to: Address, alarm: Alarm) -> str:
        robot = self._robots.get(to.robot)
        if robot is None:
            why = (
                f"no robot named {to.robot!r} is configured (BK_NOTIFY_ROBOTS)"
                if to.robot
                else "no duty group"
            )
            raise DeliveryFailed(self.name, why, retryable=False)
        if robot.kind == "wecom":
            url, params = f"{self._wecom}/cgi-bin/webhook/send", f"key={quote_plus(robot.token)}"
            body = wecom_body(alarm, national_mobile(to.phone))
        else:
            ts = self._now_ms()
            url = f"{self._dingtalk}/robot/send"
            sign = dingtalk_sign(robot.secret, ts)
            params = f"access_token={quote_plus(robot.token)}&timestamp={ts}&sign={sign}"
            body = dingtalk_body(alarm, national_mobile(to.phone))
        try:
            r = await self._client.post(f"{url}?{params}", json=body)
        except httpx.HTTPError as exc:
            raise transport_failure(self.name, exc) from None
        answer = json_answer(self.name, r)
        code = answer.get("errcode", 0)
        if code == 0:
            return f"{robot.kind}:{to.robot}"
        why = f"{robot.kind} robot {to.robot!r} errcode {code}: {answer.get('errmsg', '')}"
        raise DeliveryFailed(self.name, why, retryable=code in RETRYABLE)
