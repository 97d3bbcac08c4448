"""Delivering ``notifications.v1``: the recipient's channel, the tenant's webhooks, the in-app inbox.

At-least-once, like the bus: the outside world is told first, then the in-app message and the
inbox claim commit together. A crash in between re-sends (webhook receivers dedupe on the
notification id, which every request carries); a redelivery after the commit does nothing.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

from prometheus_client import Counter
from sqlalchemy import select

from bk_cases.context import Context
from bk_cases.db import claim_events, inbox
from bk_cases.directory.models import User
from bk_cases.notifications.models import InAppMessage
from bk_cases.notifications.senders import (
    LoggingSender,
    SmsSender,
    WebhookGaveUp,
    WebhookSender,
    WeChatTemplateSender,
)
from bkcore.bus.base import Delivery, dead_letter_topic, encode_event
from bkproto.events.v1.notifications_pb2 import Channel, NotificationRequested

log = logging.getLogger(__name__)
TOPIC = "notifications.v1"
DELIVERED = Counter("bk_notifications_delivered_total", "notifications delivered", ["tenant", "channel"])
DEAD_LETTERS = Counter(
    "bk_notifications_dead_letters_total", "deliveries given up after every retry", ["tenant", "channel"]
)


@dataclass
class Channels:
    """The senders one service uses; the embedded default logs WeChat and SMS messages."""

    wechat: WeChatTemplateSender = field(default_factory=LoggingSender)
    sms: SmsSender = field(default_factory=LoggingSender)
    webhook: WebhookSender | None = None  # None: no webhooks configured


def webhook_body(e: NotificationRequested) -> bytes:
    return json.dumps(
        {
            "notification_id": e.notification_id,
            "tenant_id": e.meta.tenant_id,
            "recipient_id": e.recipient_id,
            "template": e.template,
            "case_id": e.case_id,
            "title": e.title,
            "body": e.body,
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


async def deliver(ctx: Context, channels: Channels, d: Delivery) -> None:
    """Handle one ``notifications.v1`` event (the bus retries it when a channel raises)."""
    e: NotificationRequested = d.event  # type: ignore[assignment]
    consumer = ctx.settings.notifier_group
    async with ctx.db.session() as session:  # handled before? (checked without holding a claim)
        done = await session.scalar(
            select(inbox.c.event_id).where(inbox.c.consumer == consumer, inbox.c.event_id == d.event_id)
        )
        user = await session.get(User, e.recipient_id)
    if done is not None:
        return
    tenant = d.tenant_id
    if e.channel == Channel.CHANNEL_WECHAT_TEMPLATE and user is not None and user.wechat_openid:
        await channels.wechat.send_template(
            openid=user.wechat_openid, template=e.template, title=e.title, body=e.body, data=dict(e.data)
        )
        DELIVERED.labels(tenant, "wechat").inc()
    elif e.channel == Channel.CHANNEL_SMS and user is not None and user.phone:
        await channels.sms.send_sms(phone=user.phone, text=f"{e.title} {e.body}")
        DELIVERED.labels(tenant, "sms").inc()
    if channels.webhook is not None:
        for url in webhook_urls(ctx, tenant):
            await _webhook(ctx, channels.webhook, d, e, url)
    async with ctx.db.session() as session:
        if not await claim_events(session, consumer=consumer, event_ids=[d.event_id]):
            return  # a concurrent redelivery got here first
        session.add(
            InAppMessage(
                id=e.notification_id or d.event_id,
                tenant_id=tenant,
                recipient_id=e.recipient_id,
                template=e.template,
                title=e.title,
                body=e.body,
                case_id=e.case_id,
                urgent=e.urgent,
                digest_count=e.digest_count,
                data=dict(e.data),
                created_at=ctx.runtime.clock.now(),
            )
        )
    DELIVERED.labels(tenant, "in_app").inc()


async def _webhook(
    ctx: Context, sender: WebhookSender, d: Delivery, e: NotificationRequested, url: str
) -> None:
    try:
        await sender.post(url, webhook_body(e), notification_id=e.notification_id)
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
