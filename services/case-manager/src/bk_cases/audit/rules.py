"""Pure hash-chain rules: how an entry is hashed and how a chain is checked."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

GENESIS = "0" * 64


def canonical(data: dict[str, Any]) -> str:
    """Stable JSON (sorted keys, no spaces) so the same content always hashes the same."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_hash(
    *,
    prev_hash: str,
    tenant_id: str,
    seq: int,
    at: datetime,
    actor_id: str,
    action: str,
    entity_type: str,
    entity_id: str,
    data: str,
) -> str:
    # Microsecond ISO time in UTC: identical on SQLite and PostgreSQL after a round trip.
    fields = [
        prev_hash,
        tenant_id,
        str(seq),
        at.isoformat(timespec="microseconds"),
        actor_id,
        action,
        entity_type,
        entity_id,
        data,
    ]
    return hashlib.sha256("\x1f".join(fields).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainEntry:
    tenant_id: str
    seq: int
    at: datetime
    actor_id: str
    action: str
    entity_type: str
    entity_id: str
    data: str
    prev_hash: str
    hash: str


def verify_chain(entries: Iterable[ChainEntry], *, head_seq: int | None, head_hash: str | None) -> list[str]:
    """Problems found in one tenant's chain (entries in ``seq`` order); empty when intact."""
    problems: list[str] = []
    expected_seq, prev = 1, GENESIS
    for e in entries:
        if e.seq != expected_seq:
            problems.append(f"seq {expected_seq}..{e.seq - 1} missing (deleted rows)")
        if e.prev_hash != prev:
            problems.append(f"seq {e.seq}: link to the previous entry is broken")
        recomputed = entry_hash(
            prev_hash=e.prev_hash,
            tenant_id=e.tenant_id,
            seq=e.seq,
            at=e.at,
            actor_id=e.actor_id,
            action=e.action,
            entity_type=e.entity_type,
            entity_id=e.entity_id,
            data=e.data,
        )
        if recomputed != e.hash:
            problems.append(f"seq {e.seq}: content does not match its hash (edited row)")
        expected_seq, prev = e.seq + 1, e.hash
    if head_seq is not None and (head_seq != expected_seq - 1 or head_hash != prev):
        problems.append(f"chain ends at seq {expected_seq - 1} but the head says {head_seq} (rows removed)")
    return problems
