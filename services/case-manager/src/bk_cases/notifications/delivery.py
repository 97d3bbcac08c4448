"""Delivering ``notifications.v1``: the person's phone channels, the tenant's webhooks, the inbox.

For each message: the words are rendered in the tenant's language with the site and camera names
(``texts``); the phone channels are picked by the person's choice and the risk class (``rules.
channels_for``: Class I on every channel at once) and each is tried once, all at once. A channel that
fails in a way that may pass later is left ``retrying`` in ``notification_deliveries``; the retrier
(a background loop) tries it again with exponential backoff and, when it keeps failing or is refused
for good, dead-letters it **on its own**: the record says ``dead`` (the inbox shows it) and a copy for
that channel alone goes to ``notifications.v1.dlq``, which ``brightkitchen dlq replay`` sends again.
Retries never hold up the consumer, so one provider being down does not delay anyone's other
channels nor the next alarm.

At-least-once, like the bus: the outside world is told first, then the inbox message, the delivery
records and the inbox claim commit together. A crash in between re-sends (providers' messages carry
the notification id where they can; webhook receivers dedupe on it); a redelivery after the commit
does nothing, and a channel already ``sent`` is never sent again. A retry claimed by a replica that
then died is taken up again after ``STALE_CLAIM_S``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from prometheus_client import Counter, Histogram
from sqlalchemy import select

from bk_cases.context import Context
from bk_cases.db import claim_events, inbox
from bk_cases.directory import service as directory
from bk_cases.directory.models import User
from bk_cases.notifications import service
from bk_cases.notifications.models import DeliveryRecord, InAppMessage
from bk_cases.notifications.providers import Address, Alarm, ChannelSender, DeliveryFailed
from bk_cases.notifications.rules import channels_for, retry_delay_s
from bk_cases.notifications.senders import WebhookGaveUp, WebhookSender
from bk_cases.notifications.texts import Facts, Rendered, render
from bkcore.bus.base import H_GROUP, Delivery, dead_letter_topic, encode_event, new_meta
from bkcore.tasks import BackgroundLoop
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
STALE_CLAIM_S = 60.0  # a retry claimed this long ago by a replica that never finished: take it up again
RETRY_BATCH = 50


@dataclass
class Channels:
    """The phone channels configured (by name: wechat, sms, robot), the webhooks, the retry policy."""

    senders: dict[str, ChannelSender] = field(default_factory=dict)
    webhook: WebhookSender | None = None  # None: no webhooks configured
    max_attempts: int = 5
    base_s: float = 0.5
    cap_s: float = 30.0
    retrier: BackgroundLoop | None = None  # started by ``subscribe``

    async def aclose(self) -> None:
        if self.retrier is not None:
            await self.retrier.stop()
        for sender in self.senders.values():
            await sender.aclose()
        if self.webhook is not None:
            await self.webhook.aclose()

    def next_try_after_s(self, notification_id: str, channel: str, attempts: int) -> float:
        """The wait after ``attempts`` failed tries: exponential, with a jitter fixed per delivery
        (derived from its ids), so retries of many deliveries spread out and every replica agrees."""
        digest = hashlib.sha256(f"{notification_id}|{channel}".encode()).digest()
        jitter = int.from_bytes(digest[:4], "big") / 0xFFFFFFFF
        return retry_delay_s(attempts, base_s=self.base_s, cap_s=self.cap_s, jitter=jitter)


@dataclass(frozen=True, slots=True)
class Outcome:
    channel: str
    status: str  # sent | retrying | dead | skipped
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
        # Sent, or left to the retrier: not this handler's to send (a replayed dead one is).
        taken = {
            r.channel
            for r in (
                await service.deliveries_of(db_session=session, notification_ids=[e.notification_id])
            ).get(e.notification_id, [])
            if r.status in ("sent", "retrying", "sending")
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
    todo = [c for c in wanted if c not in taken]
    alarm = Alarm(
        notification_id=e.notification_id,
        title=text.title,
        body=text.body,
        fields=text.fields,
        case_id=e.case_id,
        urgent=e.urgent,
        locale=facts.locale,
    )
    address = address_of(user)
    # Every channel at once, one try each: a Class I alarm must not wait for one provider.
    outcomes = await asyncio.gather(*(attempt(channels, c, address, alarm, before=0) for c in todo))
    for o in outcomes:
        await _after(ctx, tenant, e, o, facts)
    if channels.webhook is not None and not only:
        for url in webhook_urls(ctx, tenant):
            await _webhook(ctx, channels.webhook, d, e, url, text)
    async with ctx.db.session() as session:
        if not await claim_events(session, consumer=consumer, event_ids=[d.event_id]):
            return  # a concurrent redelivery got here first
        now = ctx.runtime.clock.now()
        for o in outcomes:
            await service.save_delivery(session, _record(tenant, e.notification_id, e.recipient_id, o))
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
    if any(o.status == "retrying" for o in outcomes) and channels.retrier is not None:
        channels.retrier.wake()  # it looks again now and waits out the backoff


def address_of(user: User | None) -> Address:
    if user is None:
        return Address()
    return Address(wechat_openid=user.wechat_openid, phone=user.phone, robot=user.notify_robot)


def _record(tenant: str, notification_id: str, recipient_id: str, o: Outcome) -> DeliveryRecord:
    return DeliveryRecord(
        notification_id=notification_id,
        channel=o.channel,
        tenant_id=tenant,
        recipient_id=recipient_id,
        status=o.status,
        attempts=o.attempts,
        error=o.error[:2000],
        provider_ref=o.ref[:128],
        updated_at=datetime.now(UTC),  # wall time: when the provider was really tried
    )


async def attempt(channels: Channels, channel: str, to: Address, alarm: Alarm, *, before: int) -> Outcome:
    """One try on one channel: ``sent``; ``retrying`` (may pass later, tries left); ``dead`` (refused
    for good, or the last try); ``skipped`` (the channel is not configured)."""
    sender = channels.senders.get(channel)
    if sender is None:
        return Outcome(channel, "skipped", error=f"channel not configured ({CHANNEL_SETTING[channel]})")
    n = before + 1
    try:
        ref = await sender.send(to, alarm)
    except DeliveryFailed as exc:
        ATTEMPT_FAILURES.labels(channel, str(exc.retryable).lower()).inc()
        if exc.retryable and n < channels.max_attempts:
            log.warning("%s attempt %d failed, to retry: %s", channel, n, exc)
            return Outcome(channel, "retrying", attempts=n, error=str(exc))
        return Outcome(channel, "dead", attempts=n, error=str(exc))
    return Outcome(channel, "sent", attempts=n, ref=ref)


async def _after(ctx: Context, tenant: str, e: NotificationRequested, o: Outcome, facts: Facts) -> None:
    if o.status == "sent":
        DELIVERED.labels(tenant, o.channel).inc()
        if e.template == "case_created" and facts.seen_at is not None:
            ALARM_LATENCY.labels(o.channel).observe(max(0.0, time.time() - facts.seen_at.timestamp()))
    elif o.status == "dead":
        await _dead_letter(ctx, tenant, e, o)


async def retry_due(ctx: Context, channels: Channels) -> bool:
    """One round of the retrier: every delivery whose backoff has run out is tried again, all at
    once. Returns True when a full batch was due (more may be waiting)."""
    now = datetime.now(UTC)
    async with ctx.db.session() as session:
        rows = await service.retrying(
            db_session=session, stale_before=now - timedelta(seconds=STALE_CLAIM_S), limit=RETRY_BATCH
        )
    due = [
        r
        for r in rows
        if r.status == "sending"  # a stale claim: its replica is gone
        or r.updated_at
        + timedelta(seconds=channels.next_try_after_s(r.notification_id, r.channel, r.attempts))
        <= now
    ]
    await asyncio.gather(*(_retry_one(ctx, channels, r) for r in due))
    return len(due) == RETRY_BATCH


async def _retry_one(ctx: Context, channels: Channels, r: DeliveryRecord) -> None:
    async with ctx.db.session() as session:
        if not await service.claim_retry(db_session=session, record=r, now=datetime.now(UTC)):
            return  # another replica took it
        msg = await session.get(InAppMessage, r.notification_id)
        user = await directory.get_user(db_session=session, tenant_id=r.tenant_id, user_id=r.recipient_id)
        facts = await service.alarm_facts(
            db_session=session,
            tenant_id=r.tenant_id,
            case_id=msg.case_id if msg else "",
            template=msg.template if msg else "",
            digest_count=msg.digest_count if msg else 0,
        )
    if msg is None:
        o = Outcome(r.channel, "dead", attempts=r.attempts, error="the message is gone from the inbox")
    else:
        text = render(facts)
        alarm = Alarm(
            notification_id=msg.id,
            title=text.title,
            body=text.body,
            fields=text.fields,
            case_id=msg.case_id,
            urgent=msg.urgent,
            locale=facts.locale,
        )
        o = await attempt(channels, r.channel, address_of(user), alarm, before=r.attempts)
    e = NotificationRequested(
        meta=new_meta(tenant_id=r.tenant_id, key=r.recipient_id, producer="case-manager"),
        notification_id=r.notification_id,
        recipient_id=r.recipient_id,
        template=msg.template if msg else "",
        case_id=msg.case_id if msg else "",
        title=msg.title if msg else "",
        body=msg.body if msg else "",
        urgent=msg.urgent if msg else False,
        digest_count=msg.digest_count if msg else 0,
        data=dict(msg.data) if msg else {},
    )
    await _after(ctx, r.tenant_id, e, o, facts)
    async with ctx.db.session() as session:
        await service.save_delivery(session, _record(r.tenant_id, r.notification_id, r.recipient_id, o))


async def _dead_letter(ctx: Context, tenant: str, e: NotificationRequested, o: Outcome) -> None:
    """A copy of the message for this channel alone on ``notifications.v1.dlq``, replayable: a new
    event id (the original's is claimed), the consumer group named as the one that gave up."""
    DEAD_LETTERS.labels(tenant, o.channel).inc()
    copy = NotificationRequested()
    copy.CopyFrom(e)
    copy.meta.CopyFrom(new_meta(tenant_id=tenant, key=e.recipient_id, producer="case-manager"))
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
        extra={"notification_id": e.notification_id},
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
    if channels.retrier is None:  # also takes up, after a restart, what was left retrying
        channels.retrier = BackgroundLoop(
            "notification-retrier",
            lambda: retry_due(ctx, channels),
            interval_s=min(1.0, max(0.05, channels.base_s / 2)),
            error_delay_s=1.0,
        )
        channels.retrier.start()
