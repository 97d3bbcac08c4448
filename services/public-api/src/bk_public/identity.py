"""Who a mini-program user is: WeChat's ``code → openid`` exchange behind a small interface.

Production plugs in a client of ``jscode2session`` (app id and secret from the environment);
the embedded demo uses ``EmbeddedIdentityProvider``, which derives a stable openid from the code.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Protocol


class LoginFailed(Exception):
    """The identity provider rejected the login code."""


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
