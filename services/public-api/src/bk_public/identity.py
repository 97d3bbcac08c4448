"""Who a mini-program user is: WeChat's ``code → openid`` exchange behind a small interface.

Production uses ``WeChatIdentityProvider``: the mini-program's one-time ``wx.login()`` code is sent
to WeChat's ``sns/jscode2session`` with the app id and secret (both from the environment), and
WeChat's openid is the parent's identity — the same on every replica, because WeChat says who it
is. The embedded demo uses ``EmbeddedIdentityProvider``, which accepts any word and derives a
stable pseudonymous openid from it; production refuses to start with it (``PublicSettings``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from typing import Protocol

import httpx

log = logging.getLogger(__name__)


class LoginFailed(Exception):
    """The identity provider rejected the login code (the client should call ``wx.login()`` again)."""


class IdentityUnavailable(Exception):
    """The identity provider could not answer now (network, busy, rate limited): try again later."""


@dataclass(frozen=True)
class Identity:
    openid: str
    nickname: str = ""


class IdentityProvider(Protocol):
    async def exchange(self, code: str) -> Identity:
        """Turn a one-time login code from the client into a stable user id; raises LoginFailed."""


_CODE_RE = re.compile(r"^[A-Za-z0-9_\-]{4,64}$")


class EmbeddedIdentityProvider:
    """Demo stand-in for WeChat: the same code always yields the same pseudonymous openid."""

    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()

    async def exchange(self, code: str) -> Identity:
        if not _CODE_RE.match(code):
            raise LoginFailed("invalid login code")
        digest = hmac.new(self._secret, code.encode(), hashlib.sha256).hexdigest()[:24]
        return Identity(openid=f"emb-{digest}", nickname=code[:32])


#: jscode2session error codes that mean "this code is no good" (the user must log in again); every
#: other error is WeChat's side (busy, rate limit, our app's credentials) and is not the user's fault.
#: 40029 invalid code, 40163 code already used, 40226 high-risk user blocked by WeChat.
_CODE_REJECTED = {
    40029: "invalid login code",
    40163: "login code already used",
    40226: "WeChat blocked this user",
}
_OPENID_RE = re.compile(r"^[A-Za-z0-9_\-]{6,64}$")


class WeChatIdentityProvider:
    """WeChat mini-program login (小程序登录): ``GET {base}/sns/jscode2session`` with ``appid``,
    ``secret``, ``js_code`` and ``grant_type=authorization_code``, as WeChat documents it. The
    answer is JSON (sometimes served as ``text/plain``): ``openid`` and ``session_key`` (and
    ``unionid``), or ``errcode``/``errmsg``. The session key is never kept: this platform needs
    who the user is, not their encrypted WeChat data."""

    def __init__(
        self,
        app_id: str,
        app_secret: str,
        *,
        base_url: str = "https://api.weixin.qq.com",
        timeout_s: float = 5.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if not app_id or not app_secret:
            raise ValueError("WeChat login needs BK_WECHAT_APP_ID and BK_WECHAT_APP_SECRET")
        self._app_id, self._secret = app_id, app_secret
        self._url = base_url.rstrip("/") + "/sns/jscode2session"
        self._client = client or httpx.AsyncClient(timeout=timeout_s, follow_redirects=False)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def exchange(self, code: str) -> Identity:
        if not _CODE_RE.match(code):
            raise LoginFailed("invalid login code")
        params = {
            "appid": self._app_id,
            "secret": self._secret,
            "js_code": code,
            "grant_type": "authorization_code",
        }
        try:
            resp = await self._client.get(self._url, params=params)
        except httpx.HTTPError as exc:
            log.warning("WeChat jscode2session unreachable: %s", type(exc).__name__)
            raise IdentityUnavailable(
                "WeChat login is unreachable; try again shortly / 微信登录暂不可用，请稍后再试"
            ) from None
        if resp.status_code != 200:
            log.warning("WeChat jscode2session answered HTTP %s", resp.status_code)
            raise IdentityUnavailable(f"WeChat login answered HTTP {resp.status_code}; try again shortly")
        try:
            body = resp.json()
        except ValueError:
            raise IdentityUnavailable("WeChat login answered something that is not JSON") from None
        if not isinstance(body, dict):
            raise IdentityUnavailable("WeChat login answered something that is not a JSON object")
        errcode = body.get("errcode") or 0
        if errcode in _CODE_REJECTED:
            raise LoginFailed(_CODE_REJECTED[errcode])
        if errcode:
            # -1 busy, 45011 rate limited, 40013/40125 our app id/secret: for the operator, not the user.
            log.warning(
                "WeChat jscode2session refused: errcode %s (%s)", errcode, str(body.get("errmsg", ""))[:120]
            )
            raise IdentityUnavailable(f"WeChat login failed (errcode {errcode}); try again shortly")
        openid = body.get("openid")
        if not isinstance(openid, str) or not _OPENID_RE.match(openid):
            raise IdentityUnavailable("WeChat login answered without a valid openid")
        return Identity(openid=openid)
