"""Pure hash-chain rules: how an entry is keyed and hashed, and how a chain is checked.

Each entry's hash is an HMAC-SHA256 under the audit key (``BK_AUDIT_KEYS``), which lives outside
the database: someone who can write the database can edit, delete or re-chain rows, but cannot
compute hashes that verify, so every change they make is reported by sequence number. The key's id
is stored in (and covered by) each entry, so a rotated-out key keeps verifying the entries it made.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bkcore.production_checks import hmac_key_refusal

GENESIS = "0" * 64
#: What entries written before the audit was keyed carry as their key id (plain SHA-256).
UNKEYED = ""

#: Directory tables whose every change is chained, and the entity type each is chained as.
DIRECTORY_ENTITIES = {
    "tenants": "tenant",
    "org_units": "org_unit",
    "sites": "site",
    "kitchen_zones": "zone",
    "camera_bindings": "camera",
    "users": "user",
}
#: Column names whose values never enter the log (a change is recorded, the value is not).
_SECRET_COLUMN_WORDS = ("password", "secret", "token")


def canonical(data: Mapping[str, Any]) -> str:
    """Stable JSON (sorted keys, no spaces) so the same content always hashes the same."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def key_id(key: bytes) -> str:
    """A key's public name: derived from the key (so it cannot be mislabelled), revealing nothing."""
    return hmac.new(key, b"bk-audit key id", hashlib.sha256).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class AuditKeys:
    """The key that signs new entries and every key that still verifies old ones, by id."""

    signing_id: str
    keys: Mapping[str, bytes]

    @classmethod
    def of(cls, secrets: Sequence[str]) -> AuditKeys:
        """From ``BK_AUDIT_KEYS``: the first signs, the others (rotated out) only verify."""
        if not secrets:
            raise ValueError("BK_AUDIT_KEYS: at least one key is needed")
        raw = [s.encode() for s in secrets]
        return cls(signing_id=key_id(raw[0]), keys={key_id(k): k for k in raw})

    @property
    def signing_key(self) -> bytes:
        return self.keys[self.signing_id]


def entry_hash(
    *,
    key: bytes,
    key_id: str,
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
    """HMAC-SHA256 of the entry's fields, its key id and the previous entry's hash."""
    fields = [
        key_id,
        prev_hash,
        tenant_id,
        str(seq),
        at.isoformat(timespec="microseconds"),  # identical on SQLite and PostgreSQL after a round trip
        actor_id,
        action,
        entity_type,
        entity_id,
        data,
    ]
    return hmac.new(key, "\x1f".join(fields).encode(), hashlib.sha256).hexdigest()


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
    key_id: str
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem in a chain: where (``seq``; None for the chain as a whole) and what."""

    seq: int | None
    problem: str


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A chain's tip as it was at ``at``, signed with the audit key and kept outside the database
    (the object store): whoever rolls the chain back to before it cannot also roll this back."""

    tenant_id: str
    seq: int
    hash: str
    at: str  # ISO time it was taken
    key_id: str
    mac: str

    def signed_text(self) -> str:
        return "\x1f".join(
            ["bk-audit checkpoint", self.key_id, self.tenant_id, str(self.seq), self.hash, self.at]
        )


def sign_checkpoint(keys: AuditKeys, *, tenant_id: str, seq: int, hash: str, at: datetime) -> Checkpoint:
    unsigned = Checkpoint(tenant_id, seq, hash, at.isoformat(timespec="microseconds"), keys.signing_id, "")
    mac = hmac.new(keys.signing_key, unsigned.signed_text().encode(), hashlib.sha256).hexdigest()
    return Checkpoint(tenant_id, seq, hash, unsigned.at, keys.signing_id, mac)


def checkpoint_refusal(cp: Checkpoint, keys: AuditKeys, tenant_id: str) -> str | None:
    """Why ``cp`` cannot be trusted (None: it was made with one of our keys, for this tenant)."""
    key = keys.keys.get(cp.key_id)
    if key is None:
        return f"the checkpoint of {cp.at} is signed with unknown audit key {cp.key_id!r}"
    mac = hmac.new(key, cp.signed_text().encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(mac, cp.mac) or cp.tenant_id != tenant_id:
        return f"the checkpoint of {cp.at} does not verify (forged or damaged)"
    return None


def verify_chain(
    entries: Iterable[ChainEntry],
    keys: AuditKeys,
    *,
    head_seq: int | None,
    head_hash: str | None,
    checkpoint: Checkpoint | None = None,
    tenant_id: str = "",
) -> list[Finding]:
    """Problems found in one tenant's chain (entries in ``seq`` order); empty when intact. With a
    ``checkpoint`` (of ``tenant_id``), the chain must still hold the entry it saw: the tail cannot
    be cut behind it."""
    check = ChainCheck(keys, checkpoint=checkpoint, tenant_id=tenant_id)
    for e in entries:
        check.feed(e)
    return check.finish(head_seq=head_seq, head_hash=head_hash)


#: A report lists this many problems at most (a chain re-made from the genesis has one per entry).
MAX_FINDINGS = 1000


class ChainCheck:
    """``verify_chain`` one entry at a time: a long chain is checked without holding it in memory."""

    def __init__(self, keys: AuditKeys, *, checkpoint: Checkpoint | None = None, tenant_id: str = "") -> None:
        self._keys, self._checkpoint, self._tenant_id = keys, checkpoint, tenant_id
        self._found: list[Finding] = []
        self._more = 0
        self._expected_seq, self._prev = 1, GENESIS
        self._at_checkpoint: str | None = None
        self.entries = 0
        self.key_ids: set[str] = set()

    def _add(self, finding: Finding) -> None:
        if len(self._found) < MAX_FINDINGS:
            self._found.append(finding)
        else:
            self._more += 1

    def feed(self, e: ChainEntry) -> None:
        self.entries += 1
        self.key_ids.add(e.key_id)
        if self._checkpoint is not None and e.seq == self._checkpoint.seq:
            self._at_checkpoint = e.hash
        if e.seq != self._expected_seq:
            self._add(
                Finding(self._expected_seq, f"seq {self._expected_seq}..{e.seq - 1} missing (deleted rows)")
            )
        if e.prev_hash != self._prev:
            self._add(Finding(e.seq, f"seq {e.seq}: link to the previous entry is broken"))
        key = self._keys.keys.get(e.key_id)
        if e.key_id == UNKEYED:
            self._add(
                Finding(e.seq, f"seq {e.seq}: not keyed (a plain hash anyone with the database can write)")
            )
        elif key is None:
            self._add(Finding(e.seq, f"seq {e.seq}: keyed with unknown audit key {e.key_id!r}"))
        elif not hmac.compare_digest(_recomputed(e, key), e.hash):
            self._add(
                Finding(e.seq, f"seq {e.seq}: content does not match its keyed hash (edited or forged row)")
            )
        self._expected_seq, self._prev = e.seq + 1, e.hash

    def finish(self, *, head_seq: int | None, head_hash: str | None) -> list[Finding]:
        last = self._expected_seq - 1
        if head_seq is not None and (head_seq != last or head_hash != self._prev):
            self._add(
                Finding(
                    last if last else None,
                    f"chain ends at seq {last} but the head says {head_seq} (rows removed)",
                )
            )
        if self._checkpoint is not None:
            for f in _against(
                self._checkpoint, self._at_checkpoint, self._keys, tenant_id=self._tenant_id, last_seq=last
            ):
                self._add(f)
        if self._more:
            return [*self._found, Finding(None, f"{self._more} more problems not listed")]
        return list(self._found)


def _against(
    cp: Checkpoint, held: str | None, keys: AuditKeys, *, tenant_id: str, last_seq: int
) -> list[Finding]:
    if why := checkpoint_refusal(cp, keys, tenant_id):
        return [Finding(None, why)]
    if held is None:
        return [
            Finding(
                cp.seq,
                f"seq {cp.seq} is in the checkpoint of {cp.at} but the chain ends at seq {last_seq} "
                "(rows removed and the head moved back)",
            )
        ]
    if not hmac.compare_digest(held, cp.hash):
        return [Finding(cp.seq, f"seq {cp.seq} differs from the checkpoint of {cp.at} (re-chained)")]
    return []


def _recomputed(e: ChainEntry, key: bytes) -> str:
    return entry_hash(
        key=key,
        key_id=e.key_id,
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


def directory_change(
    table: str, kind: str, values: Mapping[str, Any], changed: Mapping[str, tuple[Any, Any]]
) -> dict[str, Any]:
    """What a directory row's change records: the whole row when created or deleted, the changed
    fields (before, after) when updated; a secret column only as "changed", never its value."""

    def shown(name: str, value: Any) -> Any:
        return "(set)" if any(w in name for w in _SECRET_COLUMN_WORDS) and value else value

    if kind == "update":
        return {
            "changed": {
                name: {"before": shown(name, before), "after": shown(name, after)}
                for name, (before, after) in sorted(changed.items())
            }
        }
    return {"row": {name: shown(name, value) for name, value in sorted(values.items())}}


def audit_key_refusals(key: str, previous: Sequence[str], others: Mapping[str, str]) -> list[str]:
    """Why the audit keys are unsafe, naming the setting: too short, or another key's value (a
    process that holds that other key could then re-chain the log)."""
    out: list[str] = []
    named = [("BK_AUDIT_KEY", key)] if key else []
    named += [(f"BK_AUDIT_PREVIOUS_KEYS[{i}]", k) for i, k in enumerate(previous)]
    for variable, value in named:
        if why := hmac_key_refusal(value, variable):
            out.append(why)
        reused = [name for name, other in others.items() if other and hmac.compare_digest(other, value)]
        if reused:
            out.append(f"{variable} must not be the value of {', '.join(reused)}; give the audit its own key")
    return out
