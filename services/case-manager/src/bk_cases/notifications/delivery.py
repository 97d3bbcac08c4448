"""Delivering ``notifications.v1``: the person's phone channels, the tenant's webhooks, the inbox.

For each message: the words are rendered in the tenant's language with the site and camera names
(``texts``); the phone channels are picked by the person's choice and the risk class (``rules.
channels_for``: Class I on every channel at once); each channel is tried with exponential backoff
and, when it keeps failing or is refused for good, dead-lettered **on its own** (a record in
``notification_deliveries`` the inbox shows, and a copy for that channel alone on
``notifications.v1.dlq`` that ``brightkitchen dlq replay`` sends again). One channel failing never
holds up the others nor the inbox.

At-least-once, like the bus: the outside world is told first, then the inbox message, the delivery
records and the inbox claim commit together. A crash in between re-sends (providers' messages carry
the notification id where they can; webhook receivers dedupe on it); a redelivery after the commit
does nothing, and a channel already ``sent`` is never sent again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from prometheus_client import Counter, Histogram
from sqlalchemy import select

from bk_cases.context import Context
from bk_cases.db import claim_events, inbox
from bk_cases.directory.models import User
from bk_cases.notifications import service
from bk_cases.notifications.models import DeliveryRecord, InAppMessage
from bk_cases.notifications.providers import Address, Alarm, ChannelSender, DeliveryFailed
from bk_cases.notifications.rules import channels_for, retry_delay_s
from bk_cases.notifications.senders import WebhookGaveUp, WebhookSender
from bk_cases.notifications.texts import Rendered, render
from bkcore.bus.base import H_GROUP, Delivery, dead_letter_topic, encode_event, new_meta
from bkproto.events.v1.notifications_pb2 import Channel, NotificationRequested

log = logging.getLogger(__name__)
TOPIC = "notifications.v1"
DELIVERED = Counter("bk_notifications_delivered_total", "notifications delivered", ["tenant", "channel"])
DEAD_LETTERS = Counter(
    "bk_notifications_dead_letters_total", "deliveries given up after every retry", ["tenant", "channel"]
)
ATTEMPT_FAILURES = Counter(
    "bk_notification_attempt_failures_total", "failed attempts of a phone delivery", ["channel", "retryable"]
)
ALARM_LATENCY = Histogram(
    "bk_alarm_latency_seconds",
    "a new case's first frame to its delivery request accepted by the channel's provider",
    ["channel"],
    buckets=(0.25, 0.5, 1, 2, 3, 5, 10, 30, 60, 300),
)
#: The proto's channel of a replayed dead letter -> the phone channel it stands for.
PROTO_CHANNEL = {
    Channel.CHANNEL_WECHAT_TEMPLATE: "wechat",
    Channel.CHANNEL_SMS: "sms",
    Channel.CHANNEL_ROBOT: "robot",
}
CHANNEL_PROTO = {name: proto for proto, name in PROTO_CHANNEL.items()}
#: The setting that turns each phone channel on (named when a message skips an unconfigured one).
CHANNEL_SETTING = {"wechat": "BK_WECHAT_APP_ID", "sms": "BK_SMS_ACCESS_KEY_ID", "robot": "BK_NOTIFY_ROBOTS"}


@dataclass
class Channels:
    """The phone channels configured (by name: wechat, sms, robot), the webhooks, the retry policy."""

    senders: dict[str, ChannelSender] = field(default_factory=dict)
    webhook: WebhookSender | None = None  # None: no webhooks configured
    max_attempts: int = 5
    base_s: float = 0.5
    cap_s: float = 30.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)

    async def aclose(self) -> None:
        for sender in self.senders.values():
            await sender.aclose()
        if self.webhook is not None:
            await self.webhook.aclose()


@dataclass(frozen=True, slots=True)
class Outcome:
    channel: str
    status: str  # sent | dead | skipped
    attempts: int = 0
    error: str = ""
    ref: str = ""


def webhook_body(e: NotificationRequested, text: Rendered | None = None) -> bytes:
    return json.dumps(
        {
            "notification_id": e.notification_id,
            "tenant_id": e.meta.tenant_id,
            "recipient_id": e.recipient_id,
            "template": e.template,
            "case_id": e.case_id,
            "title": text.title if text else e.title,
            "body": text.body if text else e.body,
            "urgent": e.urgent,
            "digest_count": e.digest_count,
            "data": dict(e.data),
            "occurred_at": e.meta.occurred_at.ToJsonString(),
        },
        ensure_ascii=False,
        sort_keys=True,
    ).encode()


def webhook_urls(ctx: Context, tenant_id: str) -> list[str]:
    s = ctx.settings
    return [*s.webhook_urls, *s.webhook_targets.get(tenant_id, [])]


def reachable(user: User | None) -> frozenset[str]:
    if user is None:
        return frozenset()
    found = {"wechat"} if user.wechat_openid else set()
    found |= {"sms"} if user.phone else set()
    found |= {"robot"} if user.notify_robot else set()
    return frozenset(found)


async def deliver(ctx: Context, channels: Channels, d: Delivery) -> None:
    """Handle one ``notifications.v1`` event (the bus retries it when something here raises)."""
    e: NotificationRequested = d.event  # type: ignore[assignment]
    consumer = ctx.settings.notifier_group
    tenant = d.tenant_id
    only = PROTO_CHANNEL.get(e.channel)  # type: ignore[call-overload]  # a replayed dead letter
    async with ctx.db.session() as session:  # handled before? (checked without holding a claim)
        done = await session.scalar(
            select(inbox.c.event_id).where(inbox.c.consumer == consumer, inbox.c.event_id == d.event_id)
        )
        if done is not None:
            return
        user = await session.get(User, e.recipient_id)
        if user is not None and user.tenant_id != tenant:
            user = None  # a recipient id of another tenant reaches no one
        facts = await service.alarm_facts(
            db_session=session,
            tenant_id=tenant,
            case_id=e.case_id,
            template=e.template,
            digest_count=e.digest_count,
        )
        sent_before = {
            r.channel
            for r in (
                await service.deliveries_of(db_session=session, notification_ids=[e.notification_id])
            ).get(e.notification_id, [])
            if r.status == "sent"
        }
    text = render(facts)
    wanted = (
        [only]
        if only
        else channels_for(
            risk_class=facts.risk_class or e.data.get("risk_class", ""),
            reachable=reachable(user),
            choice=user.notify_channels if user is not None else None,
        )
    )
    todo = [c for c in wanted if c not in sent_before]
    alarm = Alarm(
        notification_id=e.notification_id,
        title=text.title,
        body=text.body,
        fields=text.fields,
        case_id=e.case_id,
        urgent=e.urgent,
    )
    address = Address(
        wechat_openid=user.wechat_openid if user else "",
        phone=user.phone if user else "",
        robot=user.notify_robot if user else "",
    )
    # Every channel at once: a Class I alarm must not wait for one provider's retries.
    outcomes = await asyncio.gather(*(_one_channel(channels, c, address, alarm) for c in todo))
    for o in outcomes:
        if o.status == "sent":
            DELIVERED.labels(tenant, o.channel).inc()
            if e.template == "case_created" and facts.seen_at is not None:
                ALARM_LATENCY.labels(o.channel).observe(max(0.0, time.time() - facts.seen_at.timestamp()))
        elif o.status == "dead":
            await _dead_letter(ctx, channels, d, e, o)
    if channels.webhook is not None and not only:
        for url in webhook_urls(ctx, tenant):
            await _webhook(ctx, channels.webhook, d, e, url, text)
    async with ctx.db.session() as session:
        if not await claim_events(session, consumer=consumer, event_ids=[d.event_id]):
            return  # a concurrent redelivery got here first
        now = ctx.runtime.clock.now()
        for o in outcomes:
            await service.save_delivery(
                session,
                DeliveryRecord(
                    notification_id=e.notification_id,
                    channel=o.channel,
                    tenant_id=tenant,
                    recipient_id=e.recipient_id,
                    status=o.status,
                    attempts=o.attempts,
                    error=o.error[:2000],
                    provider_ref=o.ref[:128],
                    updated_at=now,
                ),
            )
        if only:
            return  # a replayed channel: the inbox has the message already
        session.add(
            InAppMessage(
                id=e.notification_id or d.event_id,
                tenant_id=tenant,
                recipient_id=e.recipient_id,
                template=e.template,
                title=text.title,
                body=text.body,
                case_id=e.case_id,
                urgent=e.urgent,
                digest_count=e.digest_count,
                data=dict(e.data),
                created_at=now,
            )
        )
    DELIVERED.labels(tenant, "in_app").inc()


async def _one_channel(channels: Channels, channel: str, to: Address, alarm: Alarm) -> Outcome:
    """Try one channel with exponential backoff; ``dead`` once refused for good or out of attempts."""
    sender = channels.senders.get(channel)
    if sender is None:
        return Outcome(channel, "skipped", error=f"channel not configured ({CHANNEL_SETTING[channel]})")
    last = ""
    for attempt in range(1, channels.max_attempts + 1):
        try:
            ref = await sender.send(to, alarm)
        except DeliveryFailed as exc:
            last = str(exc)
            ATTEMPT_FAILURES.labels(channel, str(exc.retryable).lower()).inc()
            if not exc.retryable:
                return Outcome(channel, "dead", attempts=attempt, error=last)
            if attempt < channels.max_attempts:
                log.warning("%s attempt %d failed: %s", channel, attempt, last)
                jitter = channels.rng.random()
                await channels.sleep(
                    retry_delay_s(attempt, base_s=channels.base_s, cap_s=channels.cap_s, jitter=jitter)
                )
        else:
            return Outcome(channel, "sent", attempts=attempt, ref=ref)
    return Outcome(channel, "dead", attempts=channels.max_attempts, error=last)


async def _dead_letter(
    ctx: Context, channels: Channels, d: Delivery, e: NotificationRequested, o: Outcome
) -> None:
    """A copy of the message for this channel alone on ``notifications.v1.dlq``, replayable: a new
    event id (the original's is claimed), the consumer group named as the one that gave up."""
    DEAD_LETTERS.labels(d.tenant_id, o.channel).inc()
    copy = NotificationRequested()
    copy.CopyFrom(e)
    copy.meta.CopyFrom(new_meta(tenant_id=d.tenant_id, key=e.recipient_id, producer="case-manager"))
    copy.channel = CHANNEL_PROTO[o.channel]  # type: ignore[assignment]
    key, value, headers = encode_event(TOPIC, copy)
    headers.update(
        {
            "dlq_error": o.error[:2000],
            "dlq_channel": o.channel,
            "dlq_attempts": str(o.attempts),
            H_GROUP: ctx.settings.notifier_group,
        }
    )
    await ctx.runtime.bus.publish_raw(dead_letter_topic(TOPIC), key, value, headers)
    log.error(
        "%s delivery dead-lettered after %d attempt(s): %s",
        o.channel,
        o.attempts,
        o.error,
        extra={"notification_id": e.notification_id, "event_id": d.event_id},
    )


async def _webhook(
    ctx: Context, sender: WebhookSender, d: Delivery, e: NotificationRequested, url: str, text: Rendered
) -> None:
    try:
        await sender.post(url, webhook_body(e, text), notification_id=e.notification_id)
        DELIVERED.labels(d.tenant_id, "webhook").inc()
    except WebhookGaveUp as exc:
        # One dead receiver must not hold up the others, nor the recipient's own channel: this
        # delivery goes to the dead-letter topic (to replay by hand) and the rest carries on.
        DEAD_LETTERS.labels(d.tenant_id, "webhook").inc()
        key, value, headers = encode_event(TOPIC, e)
        headers.update(
            {"dlq_error": str(exc)[:2000], "dlq_webhook_url": url, "dlq_attempts": str(exc.attempts)}
        )
        await ctx.runtime.bus.publish_raw(dead_letter_topic(TOPIC), key, value, headers)
        log.error("webhook delivery dead-lettered", extra={"url": url, "event_id": d.event_id})


def subscribe(ctx: Context, channels: Channels) -> None:
    async def handle(d: Delivery) -> None:
        await deliver(ctx, channels, d)

    ctx.runtime.bus.subscribe(TOPIC, ctx.settings.notifier_group, handle, max_attempts=5)
