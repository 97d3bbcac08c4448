"""Invite-code guessing: a throttle over every failed code, per parent, per IP, and in total.

A code is short enough to type, so it can be guessed; a per-parent or per-IP limit alone is walked
around with new mini-program accounts and addresses. The global count (every wrong code from
anyone) bounds the guesses the whole internet gets per hour: past ``invite_failures_global`` wrong
codes in a row binding pauses for everyone (``Retry-After``), doubling while the guessing goes on.
Only failures count, so parents binding with real codes never use up the allowance.
"""

from __future__ import annotations

from bk_public.models import invite_throttle
from bk_public.settings import PublicSettings
from bkcore.clock import Clock
from bkcore.db import Database
from bkcore.throttle import Throttle, ThrottlePolicy

EVERYONE = "invite-codes"
MAX_LOCK_S = 30 * 60
FORGET_AFTER_S = 3600


class InviteGuard:
    def __init__(self, db: Database, settings: PublicSettings, clock: Clock) -> None:
        self.throttle = Throttle(
            db, invite_throttle, clock=lambda: clock.now().timestamp(), keep_s=FORGET_AFTER_S
        )
        lock = settings.invite_lock_s
        self.everyone = ThrottlePolicy(settings.invite_failures_global, lock, MAX_LOCK_S, FORGET_AFTER_S)
        self.parent = ThrottlePolicy(settings.invite_failures_per_parent, lock, MAX_LOCK_S, FORGET_AFTER_S)
        self.ip = ThrottlePolicy(settings.invite_failures_per_ip, lock, MAX_LOCK_S, FORGET_AFTER_S)

    @staticmethod
    def keys(parent_id: str, ip_key: str) -> tuple[str, str, str]:
        return EVERYONE, f"parent:{parent_id}", f"ip:{ip_key}"

    async def before(self, parent_id: str, ip_key: str) -> None:
        """Raise Throttled while binding is paused for everyone, this parent or this address."""
        await self.throttle.check(self.keys(parent_id, ip_key))

    async def failed(self, parent_id: str, ip_key: str) -> None:
        everyone, parent, ip = self.keys(parent_id, ip_key)
        await self.throttle.record_failure(everyone, self.everyone)
        await self.throttle.record_failure(parent, self.parent)
        await self.throttle.record_failure(ip, self.ip)
