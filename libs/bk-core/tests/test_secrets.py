"""Embedded secrets: created once, kept private, identical for concurrent first users."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bkcore.secrets import embedded_secret


def test_created_once_private_and_stable(tmp_path: Path) -> None:
    first = embedded_secret(tmp_path, "jwt")
    assert len(first) >= 40
    assert embedded_secret(tmp_path, "jwt") == first
    assert stat.S_IMODE((tmp_path / "secrets" / "jwt").stat().st_mode) == 0o600
    assert embedded_secret(tmp_path, "url") != first


def test_concurrent_first_use_agrees(tmp_path: Path) -> None:
    with ThreadPoolExecutor(8) as pool:
        values = set(pool.map(lambda _: embedded_secret(tmp_path, "race"), range(32)))
    assert len(values) == 1
    assert [p.name for p in (tmp_path / "secrets").iterdir()] == ["race"]  # no temp files left
