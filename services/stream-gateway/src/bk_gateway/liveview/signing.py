"""Signed, expiring play URLs: ``?exp=<unix s>&sig=<HMAC-SHA256(secret, path \\n exp)>``.

The same scheme as ``bkcore.objstore.local`` (HMAC over what is served and the expiry, URL-safe
base64, constant-time compare), over a URL *path* instead of an object key, so URLs can be handed
to browsers and the mini-program's live-player without a session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from urllib.parse import urlencode

from bkcore.signed_urls import parse_expiry


class PlaySigner:
    def __init__(self, secret: bytes | str, ttl_s: int, *, clock: Callable[[], float] = time.time) -> None:
        if not secret:
            raise ValueError("PlaySigner needs a non-empty secret")
        self._secret = secret.encode() if isinstance(secret, str) else secret
        self.ttl_s = ttl_s
        self._clock = clock

    def sig(self, path: str, exp: int) -> str:
        mac = hmac.new(self._secret, f"{path}\n{exp}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def expiry(self, ttl_s: int | None = None) -> int:
        return int(self._clock()) + (self.ttl_s if ttl_s is None else ttl_s)

    def query(self, path: str, exp: int) -> str:
        return urlencode({"exp": exp, "sig": self.sig(path, exp)})

    def sign(self, path: str, exp: int) -> str:
        """``path?exp=..&sig=..`` (relative; the caller prefixes the public base)."""
        return f"{path}?{self.query(path, exp)}"

    def valid(self, path: str, exp: str | int | None, sig: str | None) -> bool:
        exp_i = parse_expiry(exp)  # the canonical form only: ``+17…``, ``017…``, ``1.7e9`` are refused
        if exp_i is None or not sig or exp_i < self._clock():
            return False
        return hmac.compare_digest(self.sig(path, exp_i), sig)
