"""What a parent may see. Whitelists, not blacklists: a new column is private until listed here."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

PESTICIDE = ("item", "result", "inhibition_pct", "tested_at")
DISINFECTION = ("items", "method", "compliant", "started_at", "ended_at")
SAMPLE = ("dish", "meal", "weight_g", "taken_at")
ACCOMPANYING = ("meal", "quality", "hygiene")  # no leader name, no free-text problems


def public(rows: Iterable[dict[str, Any]], fields: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{k: r[k] for k in fields} for r in rows]


def morning_summary(rows: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Counts only: health data of named staff must never be public."""
    rows = list(rows)
    return {"checked": len(rows), "fit": sum(1 for r in rows if r["fit"])}
