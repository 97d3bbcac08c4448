"""Webhooks to the tenant's own systems: plain HTTPS with an HMAC-signed body, retried with
exponential backoff and jitter, and given up (dead-lettered by the caller) after N attempts.

The phone channels (WeChat subscribe messages, SMS, WeCom/DingTalk robots) are in ``wechat.py``,
``sms.py`` and ``robots.py`` behind ``providers.ChannelSender``.

Each attempt is held to the address policy (``bkcore.netpolicy``, the same rule as camera sources):
the receiver's name is resolved, every address checked (no loopback, link-local, private, cluster or
metadata address unless the operator allowed its network), and the request sent to the checked
address with the original name as Host and TLS server name (the certificate is verified against
it), so DNS cannot point the platform's own requests at its internal services between the check
and the connection. Redirects are not followed. A refused receiver is given up at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import random
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit, urlunsplit

import httpx

from bk_cases.notifications.rules import retry_delay_s
from bkcore.netpolicy import AddressPolicy, AddressRefused, host_for_url, http_url_refusal

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-BK-Signature"
TIMESTAMP_HEADER = "X-BK-Timestamp"
ID_HEADER = "X-BK-Notification-Id"


class WebhookGaveUp(RuntimeError):
    """Every attempt failed (or the receiver refused the request for good)."""

    def __init__(self, url: str, attempts: int, last_error: str) -> None:
        super().__init__(f"webhook {url} failed after {attempts} attempts: {last_error}")
        self.url, self.attempts, self.last_error = url, attempts, last_error


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``timestamp.body`` (the timestamp stops replays)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookSender:
    """POSTs a signed JSON body; retries 5xx, 429 and transport errors; gives up after N attempts."""

    def __init__(
        self,
        secret: str,
        *,
        max_attempts: int = 5,
        base_s: float = 0.5,
        cap_s: float = 30.0,
        timeout_s: float = 10.0,
        client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        policy: AddressPolicy | None = None,
        https_only: bool = False,
    ) -> None:
        if not secret:
            raise ValueError("webhooks need a signing secret (BK_WEBHOOK_SECRET)")
        self._secret = secret
        self.policy = policy or AddressPolicy()  # strict unless told otherwise (embedded: internal ok)
        self.https_only = https_only
        self.max_attempts = max_attempts
        self._base_s, self._cap_s = base_s, cap_s
        self._client = client or httpx.AsyncClient(timeout=timeout_s)
        self._sleep = sleep
        self._rng = rng or random.Random()

    async def aclose(self) -> None:
        await self._client.aclose()

    def delay_s(self, attempt: int) -> float:
        # "Equal jitter": half fixed, half random, so retries of many receivers do not line up.
        return retry_delay_s(attempt, base_s=self._base_s, cap_s=self._cap_s, jitter=self._rng.random())

    async def post(self, url: str, body: bytes, *, notification_id: str) -> int:
        """Deliver ``body``; returns the attempts it took, raises ``WebhookGaveUp``."""
        last = ""
        for attempt in range(1, self.max_attempts + 1):
            ts = str(int(time.time()))
            headers = {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(self._secret, ts, body),
                TIMESTAMP_HEADER: ts,
                ID_HEADER: notification_id,  # receivers dedupe on it: delivery is at-least-once
            }
            try:
                pinned, host = await self._pinned(url)
            except AddressRefused as exc:
                log.warning("webhook refused by the address policy: %s", exc.cause, extra={"url": url})
                raise WebhookGaveUp(url, attempt, exc.public) from None
            try:
                r = await self._client.post(
                    pinned,
                    content=body,
                    headers={**headers, "Host": host},
                    extensions={"sni_hostname": urlsplit(url).hostname or ""},
                )
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if r.is_success:
                    return attempt
                last = f"HTTP {r.status_code}"
                if 400 <= r.status_code < 500 and r.status_code not in (408, 429):
                    raise WebhookGaveUp(url, attempt, last)  # refused for good: retrying won't help
            if attempt < self.max_attempts:
                log.warning("webhook attempt %d failed: %s", attempt, last, extra={"url": url})
                await self._sleep(self.delay_s(attempt))
        raise WebhookGaveUp(url, self.max_attempts, last)

    async def _pinned(self, url: str) -> tuple[str, str]:
        """(the URL with its host replaced by the checked address, the Host header). Raises
        AddressRefused: a URL refused as written, or a name resolving to a refused address."""
        why = http_url_refusal(url, self.policy, https_only=self.https_only)
        if why is not None:
            raise AddressRefused(f"{url}: {why}")
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = await asyncio.to_thread(self.policy.resolve, parts.hostname or "", port)  # blocks: DNS
        userinfo, at, host = parts.netloc.rpartition("@")  # host: name[:port], as the receiver knows it
        netloc = userinfo + at + host_for_url(address) + (f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")), host
