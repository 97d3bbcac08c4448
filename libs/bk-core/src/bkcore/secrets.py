"""Secrets for the embedded mode: generated once per installation and kept under data_dir.

Production reads every secret from the environment (settings refuse to start without them);
nothing secret is ever committed or hard-coded.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path


def embedded_secret(data_dir: Path, name: str) -> str:
    """The secret called ``name`` for this installation, created (0600) on first use.

    Written to a temporary file and hard-linked into place, so two processes starting at once
    agree on one value and neither can read a half-written file.
    """
    path = data_dir / "secrets" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{name}.")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(32))
            with contextlib.suppress(FileExistsError):  # another process won the race: use theirs
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
    return path.read_text().strip()
