"""Pure directory rules: password hashing and walking the org tree by path."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

# scrypt cost: n=2**14, r=8 → ~16 MiB and a few tens of ms per login; slows guessing, not users.
_N, _R, _P = 2**14, 8, 1


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$n$r$p$salt$hash`` (base64); the parameters travel with the hash so they can grow."""
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def parent_path(path: str) -> str:
    """``/a/b/c`` → ``/a/b``; the root's parent is itself (escalation stops at the top)."""
    head = path.rstrip("/").rsplit("/", 1)[0]
    return head if head else path


def ancestors(path: str) -> list[str]:
    """``/a/b/c`` → ``['/a/b/c', '/a/b', '/a']``: nearest first, for finding the territorial unit."""
    parts = [p for p in path.split("/") if p]
    return ["/" + "/".join(parts[:i]) for i in range(len(parts), 0, -1)]
