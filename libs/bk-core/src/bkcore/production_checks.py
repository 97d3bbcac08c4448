"""What production mode refuses at start-up, each refusal naming the setting to fix.

The embedded mode's conveniences (in-process bus, local object store, SQLite, generated keys) and
the values that only belong in tests are unsafe on a real deployment: a second replica would see
another bus and another disk, and a secret that appears in this repository is no secret. These are
pure functions over plain values; the settings classes call them from their validators.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

#: HMAC-SHA256 keys shorter than the hash (256 bits) are weak (RFC 7518, section 3.2; RFC 2104, 3).
MIN_SECRET_BYTES = 32

#: Placeholders and well-known defaults that documentation and images ship with. Secrets written in
#: this repository's tests are caught by shape (``looks_hand_typed``), so this list stays short and
#: a test checks that every secret literal in the repository is refused.
KNOWN_SECRETS = frozenset(
    {
        "changeme",
        "change-me",
        "change_me",
        "secret",
        "password",
        "admin",
        "minioadmin",
        "minio123",
        "test",
        "testing",
        "demo",
        "example",
        "default",
        "bright-kitchen",
        "brightkitchen",
    }
)

#: A run this long of consecutive characters ("01234567", "abcdefgh") is typed, not generated:
#: in 43 random base64url characters it turns up about once in 10^11 secrets.
_RUN = 8
#: Fewer distinct characters than this ("x" * 32) is not a random secret either.
_MIN_DISTINCT = 8
#: Words people write into the secrets of tests and examples ("hook-secret-for-tests"). A random
#: base64url secret contains one of them about once in 10^5 (hex: never); refusing it costs a re-roll.
_WORDS = (
    "secret",
    "passw",
    "example",
    "changeme",
    "sample",
    "dummy",
    "tests",
    "testing",
    "abcdef",
    "123456",
    "012345",
    "qwerty",
)  # and the keyboard's runs (hex: 1 in 10^5)


def looks_hand_typed(secret: str) -> bool:
    """True for a value that is a known placeholder or was typed rather than generated."""
    lower = secret.strip().lower()
    if lower in KNOWN_SECRETS or any(word in lower for word in _WORDS):
        return True
    if len(set(secret)) < _MIN_DISTINCT:
        return True
    up = down = 1
    for prev, cur in itertools.pairwise(secret):
        up = up + 1 if ord(cur) == ord(prev) + 1 else 1
        down = down + 1 if ord(cur) == ord(prev) - 1 else 1
        if up >= _RUN or down >= _RUN:
            return True
    return False


def hmac_key_refusal(secret: str, variable: str) -> str | None:
    """Why ``secret`` is too short an HMAC-SHA256 key (naming ``variable``, never the value)."""
    if len(secret.encode()) < MIN_SECRET_BYTES:
        return f"{variable} must be at least {MIN_SECRET_BYTES} bytes; make one with `openssl rand -hex 32`"
    return None


def placeholder_refusals(secrets: Iterable[tuple[str, str]]) -> list[str]:
    """Refusals for the (variable, value) pairs whose value is a placeholder or typed by hand."""
    return [
        f"{variable} is a known test or placeholder value; generate one with `openssl rand -hex 32`"
        for variable, value in secrets
        if value and looks_hand_typed(value)
    ]


def webhook_secret_refusals(has_webhooks: bool, secret: str) -> list[str]:
    """Webhook bodies are signed with ``BK_WEBHOOK_SECRET``: with a short key a receiver could be
    sent forged notifications. (Where webhooks may go is ``bkcore.netpolicy``'s to say.)"""
    if has_webhooks and not secret:
        return ["BK_WEBHOOK_SECRET is required when webhooks are configured"]
    why = hmac_key_refusal(secret, "BK_WEBHOOK_SECRET") if secret else None
    return [why] if why else []
