"""Secrets for the embedded mode: generated once per installation and kept under data_dir.

Production reads every secret from the environment (settings refuse to start without them);
nothing secret is ever committed or hard-coded.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bkcore.keys import generate_private_key, load_private_key, private_key_pem

#: The embedded installation's token-signing key pair (``data_dir/secrets/<this>``).
TOKEN_KEY_NAME = "jwt-ed25519.pem"


def embedded_secret(data_dir: Path, name: str) -> str:
    """The secret called ``name`` for this installation, created (0600) on first use."""
    return _created_once(data_dir / "secrets" / name, lambda: secrets.token_urlsafe(32))


def embedded_token_key(data_dir: Path) -> Ed25519PrivateKey:
    """The installation's Ed25519 token-signing key, generated (0600) on first use and kept, so
    sessions survive a restart. Production never uses it: there the key comes from the environment."""
    pem = _created_once(
        data_dir / "secrets" / TOKEN_KEY_NAME, lambda: private_key_pem(generate_private_key())
    )
    return load_private_key(pem, str(data_dir / "secrets" / TOKEN_KEY_NAME))


def _created_once(path: Path, make: Callable[[], str]) -> str:
    """The file's text, writing ``make()`` first when it does not exist yet.

    Written to a temporary file and hard-linked into place, so two processes starting at once
    agree on one value and neither can read a half-written file.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(make())
            with contextlib.suppress(FileExistsError):  # another process won the race: use theirs
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
    return path.read_text().strip()
