"""Secrets for the embedded mode: generated once per installation and kept under data_dir.

Production reads every secret from the environment (settings refuse to start without them);
nothing secret is ever committed or hard-coded.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def embedded_secret(data_dir: Path, name: str) -> str:
    """The secret called ``name`` for this installation, created (0600) on first use."""
    path = data_dir / "secrets" / name
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value
