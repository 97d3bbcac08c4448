"""WeChat mini-program subscribe messages (订阅消息) to a person's openid.

As WeChat documents it: an ``access_token`` from ``GET /cgi-bin/token?grant_type=client_credential
&appid=&secret=`` (valid ``expires_in`` seconds, 7200, shared by every caller of the app — so it is
cached here and renewed early), then ``POST /cgi-bin/message/subscribe/send?access_token=`` with
``touser`` (openid), ``template_id``, ``page`` (where a tap opens the mini-program), ``miniprogram_state``,
``lang`` and ``data`` as ``{"<keyword>": {"value": "..."}}``. The keywords (``thing1``, ``time2`` …)
are the chosen template's, so they are configured (``BK_WECHAT_TEMPLATE_KEYWORDS``), and each value
is held to its kind's documented limit (``thing`` ≤ 20 characters, ``phrase`` ≤ 5 …): WeChat refuses
the whole message (47003) otherwise. ``errcode`` 40001/40014/42001 (token invalid or expired, e.g.
another process renewed it) renews the token once and sends again.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Mapping

import httpx

from bk_cases.notifications.providers import (
    Address,
    Alarm,
    ChannelName,
    DeliveryFailed,
    cut,
    json_answer,
    transport_failure,
)

DEFAULT_BASE = "https://api.weixin.qq.com"
#: The token went bad under us (invalid credential, invalid token, expired): renew and send again.
TOKEN_ERRORS = frozenset({40001, 40014, 42001})
#: Worth another attempt later: system busy (-1), frequency limit (45009), minute quota (45011).
RETRYABLE = frozenset({-1, 45009, 45011})
#: The documented length limit of each keyword kind (the keyword name without its number).
KIND_LIMITS = {
    "thing": 20,
    "character_string": 32,
    "number": 32,
    "letter": 32,
    "symbol": 5,
    "phrase": 5,
    "name": 10,
    "car_number": 8,
    "phone_number": 17,
    "amount": 11,
    "time": 32,
    "date": 32,
}
RENEW_EARLY_S = 300  # renew five minutes before WeChat says the token expires


def keyword_kind(keyword: str) -> str:
    """``thing12`` → ``thing``; ``character_string3`` → ``character_string``."""
    return re.sub(r"\d+$", "", keyword)


def subscribe_data(keywords: Mapping[str, str], fields: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """The ``data`` object: each template keyword with its field's value, cut to the kind's limit."""
    data = {}
    for keyword, name in keywords.items():
        limit = KIND_LIMITS.get(keyword_kind(keyword), 20)
        data[keyword] = {"value": cut(fields.get(name, "") or "-", limit)}
    return data


class WeChatSubscribeSender:
    name = ChannelName.WECHAT

    def __init__(
        self,
        *,
        app_id: str,
        app_secret: str,
        template_id: str,
        keywords: Mapping[str, str],
        page: str = "pages/cases/detail?id={case_id}",
        miniprogram_state: str = "formal",
        lang: str = "zh_CN",
        base_url: str = DEFAULT_BASE,
        timeout_s: float = 5.0,
        client: httpx.AsyncClient | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        missing = [
            n
            for n, v in (("app_id", app_id), ("app_secret", app_secret), ("template_id", template_id))
            if not v
        ]
        if missing or not keywords:
            raise ValueError(f"WeChat subscribe messages need {', '.join(missing) or 'template keywords'}")
        self._app_id, self._secret, self._template = app_id, app_secret, template_id
        self._keywords = dict(keywords)
        self._page, self._state, self._lang = page, miniprogram_state, lang
        self._base = base_url.rstrip("/")
        self._client = client or httpx.AsyncClient(timeout=timeout_s)
        self._monotonic = monotonic
        self._token = ""
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self.token_fetches = 0  # how often a token was fetched (metrics, tests)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(self, to: Address, alarm: Alarm) -> str:
        if not to.wechat_openid:
            raise DeliveryFailed(self.name, "the person has no WeChat openid", retryable=False)
        body = {
            "touser": to.wechat_openid,
            "template_id": self._template,
            "page": self._page.format(case_id=alarm.case_id),
            "miniprogram_state": self._state,
            "lang": "en_US" if alarm.locale.lower().startswith("en") else self._lang,
            "data": subscribe_data(self._keywords, alarm.fields),
        }
        token = await self._access_token()
        answer = await self._post(token, body)
        if answer.get("errcode") in TOKEN_ERRORS:  # renewed elsewhere or revoked: renew once, resend
            token = await self._access_token(stale=token)
            answer = await self._post(token, body)
        return self._checked(answer, "subscribe/send")

    async def _post(self, token: str, body: dict[str, object]) -> dict[str, object]:
        url = f"{self._base}/cgi-bin/message/subscribe/send"
        try:
            r = await self._client.post(url, params={"access_token": token}, json=body)
        except httpx.HTTPError as exc:
            raise transport_failure(self.name, exc) from None
        return json_answer(self.name, r)

    def _checked(self, answer: dict[str, object], call: str) -> str:
        code = answer.get("errcode", 0)
        if code == 0:
            return str(answer.get("msgid", ""))
        why = f"{call} errcode {code}: {answer.get('errmsg', '')}"
        # 43101: the person has no subscription left to use (each consent allows one message).
        raise DeliveryFailed(self.name, why, retryable=code in RETRYABLE or code in TOKEN_ERRORS)

    async def _access_token(self, *, stale: str = "") -> str:
        """The cached token, fetched when missing, near expiry, or equal to ``stale``."""
        async with self._lock:  # one fetch for many concurrent sends
            if self._token and self._token != stale and self._monotonic() < self._expires_at:
                return self._token
            params = {"grant_type": "client_credential", "appid": self._app_id, "secret": self._secret}
            try:
                r = await self._client.get(f"{self._base}/cgi-bin/token", params=params)
            except httpx.HTTPError as exc:
                raise transport_failure(self.name, exc) from None
            answer = json_answer(self.name, r)
            self.token_fetches += 1
            token = answer.get("access_token")
            if not isinstance(token, str) or not token:
                self._checked({**answer, "errcode": answer.get("errcode", -1)}, "token")
                raise DeliveryFailed(self.name, "token: no access_token in the answer", retryable=True)
            expires_in = float(answer.get("expires_in", 7200))  # type: ignore[arg-type]
            self._token = token
            self._expires_at = self._monotonic() + max(expires_in - RENEW_EARLY_S, expires_in / 2)
            return token
