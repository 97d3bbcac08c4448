"""Webhooks held to the platform's address policy (bkcore.netpolicy), written as the attacks: a
webhook configured at the cloud's metadata service or a cluster service is refused at configuration;
one whose name later resolves to an internal address is refused at send time, before any request; a
receiver that redirects inward is not followed. Receivers are real HTTP servers on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from pydantic import ValidationError
from test_notify_delivery import HOOK_SECRET, Receiver, serve

from bk_cases.notifications.senders import WebhookGaveUp, WebhookSender
from bk_cases.settings import CaseSettings
from bkcore import netpolicy
from bkcore.netpolicy import REFUSED, AddressPolicy, http_url_refusal

pytestmark = pytest.mark.timeout(60)


def names(answers: dict[str, Sequence[str]]):  # type: ignore[no-untyped-def]
    """A resolver that knows only ``answers`` (what DNS says now), so no test depends on real DNS."""

    def resolve(host: str, port: int) -> Sequence[str]:
        if host not in answers:
            raise OSError(f"{host}: no such name")
        return answers[host]

    return resolve


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://[fd00:ec2::254]/latest/meta-data",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://kafka.kafka.svc.cluster.local:9092/",
        "http://postgres.db.svc/",
        "gopher://hooks.example.com/",
    ],
)
def test_configuring_an_internal_webhook_is_refused_naming_the_setting(url: str) -> None:
    with pytest.raises(ValidationError, match="BK_WEBHOOK_URLS/BK_WEBHOOK_TARGETS"):
        CaseSettings(webhook_urls=[url], webhook_secret="x" * 40)
    with pytest.raises(ValidationError, match="BK_WEBHOOK_URLS/BK_WEBHOOK_TARGETS"):
        CaseSettings(webhook_targets={"minghu": [url]}, webhook_secret="x" * 40)


def test_production_wants_https_to_a_public_receiver() -> None:
    """The production rule, as ``CaseSettings`` applies it in production mode (https only, internal
    literals refused unless their network is allowed)."""
    strict = AddressPolicy()
    assert http_url_refusal("http://hooks.example.com/bk", strict, https_only=True) == "must use https"
    assert http_url_refusal("https://10.1.2.3/bk", strict, https_only=True) is not None
    assert http_url_refusal("https://[::1]/bk", strict, https_only=True) is not None
    assert http_url_refusal("https://hooks.example.com/bk", strict, https_only=True) is None
    relay = AddressPolicy.build(allow_internal=False, allowed_networks="10.1.2.0/24")
    assert http_url_refusal("https://10.1.2.3/bk", relay, https_only=True) is None  # the site's relay


async def test_a_name_resolving_to_loopback_gets_no_request(monkeypatch: pytest.MonkeyPatch) -> None:
    receiver = Receiver()
    async with serve(receiver) as url:
        port = url.rsplit(":", 1)[1].split("/")[0]
        monkeypatch.setattr(netpolicy, "system_resolver", names({"hooks.example.com": ["127.0.0.1"]}))
        sender = WebhookSender(HOOK_SECRET, max_attempts=3, base_s=0.01, policy=AddressPolicy())
        try:
            with pytest.raises(WebhookGaveUp) as gave_up:
                await sender.post(f"http://hooks.example.com:{port}/hook", b"{}", notification_id="n-1")
        finally:
            await sender.aclose()
    assert receiver.requests == []  # refused before connecting
    assert gave_up.value.attempts == 1 and gave_up.value.last_error == REFUSED  # at once, one sentence


async def test_pinned_to_the_checked_address_then_rebinding_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator allowed the receiver's network (here loopback stands for a LAN relay). The request
    goes to the address that was checked, with the name it was configured with as Host; when DNS
    later answers the metadata address, the next delivery is refused, not sent there."""
    receiver = Receiver()
    answers: dict[str, Sequence[str]] = {"relay.site.example": ["127.0.0.1"]}
    monkeypatch.setattr(netpolicy, "system_resolver", names(answers))
    relay_net = AddressPolicy.build(allow_internal=False, allowed_networks="127.0.0.1/32")
    async with serve(receiver) as url:
        port = url.rsplit(":", 1)[1].split("/")[0]
        hook = f"http://relay.site.example:{port}/hook"
        sender = WebhookSender(HOOK_SECRET, max_attempts=2, base_s=0.01, policy=relay_net)
        try:
            assert await sender.post(hook, b'{"n":1}', notification_id="n-1") == 1
            headers, _ = receiver.requests[0]
            assert headers["host"] == f"relay.site.example:{port}"  # the name, though no DNS knows it
            answers["relay.site.example"] = ["169.254.169.254"]  # DNS rebinding
            with pytest.raises(WebhookGaveUp):
                await sender.post(hook, b'{"n":2}', notification_id="n-2")
        finally:
            await sender.aclose()
    assert len(receiver.requests) == 1


class Redirector:
    """A receiver that answers every POST with a redirect to ``location``."""

    def __init__(self) -> None:
        self.location = ""
        self.hits = 0

    async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        self.hits += 1
        while (await receive()).get("more_body"):
            pass
        headers = [(b"location", self.location.encode())]
        await send({"type": "http.response.start", "status": 307, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


async def test_a_redirect_inwards_is_not_followed() -> None:
    inner, outer = Receiver(), Redirector()
    async with serve(inner) as inner_url, serve(outer) as outer_url:
        outer.location = inner_url
        sender = WebhookSender(
            HOOK_SECRET, max_attempts=2, base_s=0.01, policy=AddressPolicy(allow_internal=True)
        )
        try:
            with pytest.raises(WebhookGaveUp, match="HTTP 307"):
                await sender.post(outer_url, b"{}", notification_id="n-1")
        finally:
            await sender.aclose()
        await asyncio.sleep(0)
    assert outer.hits == 2 and inner.requests == []
