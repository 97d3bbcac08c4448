"""What every phone channel (推送渠道) shares: the message it is handed, how it fails, its contract.

A channel adapter makes **one** attempt per ``send`` (a WeChat token refresh inside it is part of
that attempt) and either returns the provider's reference for the message or raises
``DeliveryFailed`` saying whether another attempt may help. Retries with backoff and the dead
letter are the caller's (``delivery.py``), one policy for every channel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import httpx


class ChannelName(StrEnum):
    """The ways a person is reached besides the in-app inbox (站内信)."""

    WECHAT = "wechat"  # WeChat mini-program subscribe message (订阅消息) to the person's openid
    SMS = "sms"  # a cloud SMS provider's template message (短信) to the person's phone
    ROBOT = "robot"  # a WeCom / DingTalk group robot (群机器人) of the person's duty group, @-ing them


@dataclass(frozen=True, slots=True)
class Alarm:
    """One message to one person, already in the tenant's language (``texts.render``).

    ``fields`` are the named facts the providers' templates take (site, camera, type, class, time,
    deadline); each adapter maps them to its own keywords or template parameters.
    """

    notification_id: str
    title: str
    body: str
    fields: Mapping[str, str] = field(default_factory=dict)
    case_id: str = ""
    urgent: bool = False
    locale: str = "zh-CN"  # the tenant's: WeChat shows its "open the mini-program" line in it


@dataclass(frozen=True, slots=True)
class Address:
    """Where one person is reached: their openid, phone, and the duty group's robot."""

    wechat_openid: str = ""
    phone: str = ""
    robot: str = ""  # the name of a configured robot (BK_NOTIFY_ROBOTS)


class DeliveryFailed(RuntimeError):
    """One attempt failed. ``retryable``: another attempt later may succeed (timeouts, 5xx,
    throttling); otherwise it never will (bad number, no consent, wrong key) and is dead-lettered."""

    def __init__(self, channel: str, reason: str, *, retryable: bool) -> None:
        super().__init__(f"{channel}: {reason}")
        self.channel, self.reason, self.retryable = channel, reason, retryable


class ChannelSender(Protocol):
    """One phone channel. ``send`` makes one attempt; returns the provider's message reference."""

    name: ChannelName

    async def send(self, to: Address, alarm: Alarm) -> str: ...

    async def aclose(self) -> None: ...


def transport_failure(channel: str, exc: httpx.HTTPError) -> DeliveryFailed:
    """A request that got no answer: always worth another attempt."""
    return DeliveryFailed(channel, f"{type(exc).__name__}: {exc}", retryable=True)


def http_failure(channel: str, r: httpx.Response) -> DeliveryFailed:
    """A non-2xx answer: 5xx, 408 and 429 may pass later; other 4xx never will."""
    retry = r.status_code >= 500 or r.status_code in (408, 429)
    return DeliveryFailed(channel, f"HTTP {r.status_code}: {r.text[:300]}", retryable=retry)


def json_answer(channel: str, r: httpx.Response) -> dict[str, object]:
    """The provider's JSON answer, or a failure naming what came back instead."""
    if not r.is_success:
        raise http_failure(channel, r)
    try:
        answer = r.json()
    except ValueError:
        raise DeliveryFailed(channel, f"not JSON: {r.text[:200]!r}", retryable=True) from None
    if not isinstance(answer, dict):
        raise DeliveryFailed(channel, f"unexpected answer: {r.text[:200]!r}", retryable=True)
    return answer


def cut(text: str, limit: int) -> str:
    """At most ``limit`` characters (providers refuse longer keyword values), marked when cut."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def national_mobile(phone: str) -> str:
    """A phone as the Chinese providers want it: a mainland number as its 11 digits (the directory
    keeps E.164, ``+8613800138000``), any other as its digits with the country code, no ``+``."""
    digits = phone.strip().lstrip("+")
    if digits.startswith("86") and len(digits) == 13:
        return digits[2:]
    return digits
