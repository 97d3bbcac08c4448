"""Staff login throttle: per account and per client IP, with backoff (``bkcore.throttle``).

An account is counted before its password is checked and forgiven when it is right, so of many
guesses in flight at once no more than ``login_account_failures`` are ever checked; the IP is
counted on failures only (an office behind one NAT logs in all morning). While either is locked the
answer is 429 with ``Retry-After`` — for the right password too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from bk_cases.auth.models import login_throttle
from bk_cases.settings import CaseSettings
from bkcore.clock import Clock
from bkcore.db import Database
from bkcore.throttle import Throttle, ThrottlePolicy

#: The longest lock, and how long a quiet key keeps its count.
MAX_LOCK_S = 15 * 60
FORGET_AFTER_S = 3600


@dataclass(frozen=True, slots=True)
class LoginKeys:
    account: str
    ip: str


def login_keys(username: str, ip_key: str) -> LoginKeys:
    """Keys of one attempt. The account is the username alone (hashed: no names kept), whatever
    tenant is named, so switching ``tenant_id`` does not start a fresh count."""
    digest = hashlib.sha256(username.casefold().encode("utf-8", "surrogatepass")).hexdigest()[:40]
    return LoginKeys(account=f"account:{digest}", ip=f"ip:{ip_key}")


class LoginGuard:
    def __init__(self, db: Database, settings: CaseSettings, clock: Clock) -> None:
        self.throttle = Throttle(
            db, login_throttle, clock=lambda: clock.now().timestamp(), keep_s=FORGET_AFTER_S
        )
        self.account = ThrottlePolicy(
            settings.login_account_failures, settings.login_lock_s, MAX_LOCK_S, FORGET_AFTER_S
        )
        self.ip = ThrottlePolicy(
            settings.login_ip_failures, settings.login_lock_s, MAX_LOCK_S, FORGET_AFTER_S
        )

    async def before(self, keys: LoginKeys) -> None:
        """Raise Throttled while the account or the IP is locked; otherwise count the account."""
        await self.throttle.check((keys.account, keys.ip))
        await self.throttle.count_attempt(keys.account, self.account)

    async def failed(self, keys: LoginKeys) -> None:
        await self.throttle.record_failure(keys.ip, self.ip)

    async def succeeded(self, keys: LoginKeys) -> None:
        await self.throttle.clear(keys.account)
