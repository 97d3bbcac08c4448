"""The keyed audit chain (#17.9): written as the attack — someone who can write the database but
does not hold ``BK_AUDIT_KEY`` edits, deletes or re-chains entries — and the detection it must get;
every new kind of entry (rectifications, verdicts, directory changes, staff access to evidence) in
the chain; rotating the key; what production refuses.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import os
import secrets
import stat
import subprocess
import sys
import zipfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from cm_demo import DEMO
from cm_pg import fresh_database
from cm_testkit import detection, eventually, login, make_runtime
from PIL import Image
from pydantic import SecretStr, ValidationError
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bk_cases.audit import service as audit
from bk_cases.audit.models import AuditEntry, AuditHead
from bk_cases.audit.rules import (
    GENESIS,
    MAX_FINDINGS,
    AuditKeys,
    ChainEntry,
    Finding,
    audit_key_refusals,
    directory_change,
    entry_hash,
    key_id,
    verify_chain,
)
from bk_cases.audit.scheduled import checkpoint_once
from bk_cases.directory.models import Site, User
from bk_cases.service import CaseService, create_service
from bk_cases.settings import CaseSettings
from bkcore.auth import CASE_MANAGER, Scope
from bkcore.bus.base import new_meta
from bkcore.clock import FakeClock
from bkcore.service import Runtime
from bkcore.testing.tokens import service_principal
from bkcore.verdicts import MANIFEST, parse_set
from bkproto.events.v1.evidence_pb2 import EvidenceAccessed

TENANT = DEMO.TENANT_ID


# --- the attacker's tools: what anyone with the database can compute ------------------------------


def plain_sha256(e: AuditEntry) -> str:
    """The rule the chain had before it was keyed (and that anyone can run)."""
    fields = [
        e.prev_hash,
        e.tenant_id,
        str(e.seq),
        e.at.isoformat(timespec="microseconds"),
        e.actor_id,
        e.action,
        e.entity_type,
        e.entity_id,
        e.data,
    ]
    return hashlib.sha256("\x1f".join(fields).encode()).hexdigest()


def consistent_without_a_key(rows: list[AuditEntry], head: AuditHead | None, rehashed_from: int) -> bool:
    """All that a plain hash chain could check: numbering, links, the head, and the hashes that
    were re-made (the untouched ones are genuine)."""
    prev = GENESIS
    for n, r in enumerate(rows, 1):
        if r.seq != n or r.prev_hash != prev or (r.seq >= rehashed_from and plain_sha256(r) != r.hash):
            return False
        prev = r.hash
    return head is not None and head.seq == len(rows) and head.hash == prev


Tamper = Callable[[list[AuditEntry]], tuple[list[AuditEntry], int]]


async def rechain(service: CaseService, tamper: Tamper, *, key_id_as: str | None = None) -> int:
    """Change the rows with ``tamper`` (it returns the rows to keep and the first seq it touched),
    keep every entry before that as it is, renumber, re-link and re-hash the rest with plain
    SHA-256 (claiming ``key_id_as``, or each entry's own key id), and move the head: a chain that
    is consistent to anyone without the key. Returns the first seq touched."""
    async with service.db.session() as s:
        rows = await _rows(s)
        kept, first = tamper(rows)
        rest = [
            dict(
                tenant_id=r.tenant_id,
                at=r.at,
                actor_id=r.actor_id,
                action=r.action,
                entity_type=r.entity_type,
                entity_id=r.entity_id,
                data=r.data,
                key_id=r.key_id if key_id_as is None else key_id_as,
            )
            for r in kept[first - 1 :]
        ]
        prev = kept[first - 2].hash if first > 1 else GENESIS
        await s.execute(delete(AuditEntry).where(AuditEntry.tenant_id == TENANT, AuditEntry.seq >= first))
        await s.flush()
        for seq, values in enumerate(rest, first):
            entry = AuditEntry(seq=seq, prev_hash=prev, hash="", **values)
            entry.hash = plain_sha256(entry)
            s.add(entry)
            prev = entry.hash
        last = first - 1 + len(rest)
        await s.execute(update(AuditHead).where(AuditHead.tenant_id == TENANT).values(seq=last, hash=prev))
    async with service.db.session() as s:
        assert consistent_without_a_key(
            await _rows(s), await s.get(AuditHead, TENANT), first
        )  # a real attack
    return first


async def _rows(s: AsyncSession) -> list[AuditEntry]:
    stmt = select(AuditEntry).where(AuditEntry.tenant_id == TENANT).order_by(AuditEntry.seq)
    return list((await s.scalars(stmt.execution_options(populate_existing=True))).all())


# --- a little activity to chain --------------------------------------------------------------------


def _jpeg(colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (160, 90), colour).save(buf, "JPEG")
    return buf.getvalue()


async def _open_case(service: CaseService, client: httpx.AsyncClient, clock: FakeClock, vtype: str) -> str:
    event = detection(clock, vtype)
    event.raw_snapshot_key = f"{TENANT}/evidence/2026/09/01/{vtype}/raw.jpg"
    await service.ctx.runtime.store.put(event.raw_snapshot_key, _jpeg((40, 90, 140)), "image/jpeg")
    await service.ctx.runtime.bus.publish("detections.v1", event)
    sup = await login(client, "lakeside")

    async def found() -> str | None:
        items = (await client.get("/cases", headers=sup, params={"case_type": vtype})).json()["items"]
        return items[0]["id"] if items else None

    return await eventually(found)


async def _activity(service: CaseService, client: httpx.AsyncClient, clock: FakeClock) -> dict[str, str]:
    """A confirmed case with a rectification, a false alarm, a label correction, staff views."""
    sup, mgr = await login(client, "lakeside"), await login(client, "manager")
    confirmed = await _open_case(service, client, clock, "no_chef_hat")
    false_alarm = await _open_case(service, client, clock, "smoking")
    assert (await client.post(f"/cases/{confirmed}/dispatch", headers=sup)).status_code == 200
    assert (await client.post(f"/cases/{confirmed}/acknowledge", headers=mgr)).status_code == 200
    photos = [("photos", ("after.jpg", _jpeg((200, 200, 200)), "image/jpeg"))]
    r = await client.post(f"/cases/{confirmed}/rectifications", headers=mgr, files=photos)
    assert r.status_code == 200, r.text
    assert (await client.get(f"/cases/{confirmed}", headers=sup)).status_code == 200
    assert (await client.post(f"/cases/{confirmed}/approve", headers=sup)).status_code == 200
    assert (await client.post(f"/cases/{confirmed}/close", headers=sup)).json()["verdict"] == "confirmed"
    r = await client.post(f"/cases/{false_alarm}/false-alarm", headers=sup, json={"note": "a thermometer"})
    assert r.json()["verdict"] == "false_alarm"
    assert (await client.get(f"/cases/{false_alarm}/labels", headers=sup)).status_code == 200
    r = await client.put(f"/cases/{false_alarm}/labels", headers=sup, json={"not_violation": True})
    assert r.status_code == 200, r.text
    return {"confirmed": confirmed, "false_alarm": false_alarm}


async def _entries(service: CaseService) -> list[AuditEntry]:
    async with service.db.session() as s:
        return await _rows(s)


async def _verify(client: httpx.AsyncClient) -> dict:
    r = await client.get("/audit/verify", headers=await login(client, "admin"))
    assert r.status_code == 200, r.text
    return r.json()


# --- the attack -----------------------------------------------------------------------------------


def _edit_false_alarm(rows: list[AuditEntry]) -> tuple[list[AuditEntry], int]:
    """Someone rewrites who marked the false alarm, and what it said."""
    target = next(r for r in rows if r.action == "false_alarm")
    data = json.loads(target.data)
    data["note"] = "confirmed by the district"
    target.actor_id, target.data = "system", json.dumps(data, sort_keys=True, separators=(",", ":"))
    return rows, target.seq


def _delete_an_evidence_view(rows: list[AuditEntry]) -> tuple[list[AuditEntry], int]:
    """Someone removes the record that they looked at a case's pictures."""
    target = next(r for r in rows if r.action == "evidence.access")
    return [r for r in rows if r is not target], target.seq


def _insert_an_entry(rows: list[AuditEntry]) -> tuple[list[AuditEntry], int]:
    """Someone slips in a directory change that never happened (a user made admin)."""
    anchor = next(r for r in rows if r.action == "close")
    forged = AuditEntry(
        tenant_id=TENANT,
        seq=0,
        at=anchor.at,
        actor_id=f"{TENANT}:admin",
        action="directory.update",
        entity_type="user",
        entity_id=f"{TENANT}:staff",
        data='{"changed":{"role":{"after":"platform_admin","before":"staff"}}}',
        key_id=anchor.key_id,
        prev_hash="",
        hash="",
    )
    at = rows.index(anchor)
    return [*rows[:at], forged, *rows[at:]], anchor.seq


ATTACKS = {"edit": _edit_false_alarm, "delete": _delete_an_evidence_view, "insert": _insert_an_entry}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
@pytest.mark.parametrize("claimed_key", ["the real key id", "unkeyed"])
async def test_a_chain_rechained_with_sha256_by_someone_with_the_database_is_reported_by_seq(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock, attack: str, claimed_key: str
) -> None:
    """The attacker leaves the entries before their change alone, re-chains the rest with plain
    SHA-256 and moves the head — enough for the old chain. Every re-made entry is reported, by
    seq, from the first one touched to the end, and nothing before it."""
    await _activity(service, client, clock)
    before = await _verify(client)
    assert before["ok"], before["problems"]
    first = await rechain(service, ATTACKS[attack], key_id_as="" if claimed_key == "unkeyed" else None)
    report = await _verify(client)
    last = (await _entries(service))[-1].seq
    assert not report["ok"]
    assert [f["seq"] for f in report["findings"]] == list(range(first, last + 1)), report["findings"]
    wanted = "not keyed" if claimed_key == "unkeyed" else "content does not match its keyed hash"
    assert all(wanted in f["problem"] for f in report["findings"]), report["findings"]


async def test_the_whole_chain_rebuilt_from_the_genesis_is_reported_entry_by_entry(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await _activity(service, client, clock)
    await rechain(service, lambda rows: (_edit_false_alarm(rows)[0], 1), key_id_as="")
    report = await _verify(client)
    entries = await _entries(service)
    assert [f["seq"] for f in report["findings"]] == [e.seq for e in entries]


async def test_cutting_the_tail_and_moving_the_head_back_is_caught_by_the_signed_checkpoint(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Entries cut off the end leave genuine hashes behind; the checkpoint in the object store,
    which someone with the database cannot change, still names the entry that was the tip."""
    await _activity(service, client, clock)
    assert await checkpoint_once(service.ctx) == 1
    cp = json.loads(await service.ctx.runtime.store.get(f"{TENANT}/audit/checkpoint.json"))
    assert await service.ctx.runtime.store.exists(f"{TENANT}/audit/checkpoints/{cp['seq']:012d}.json")
    assert await checkpoint_once(service.ctx) == 0  # the head has not moved
    first = await rechain(service, lambda rows: (rows[:-3], len(rows) - 2))  # nothing re-hashed
    report = await _verify(client)
    assert [(f["seq"], f["problem"]) for f in report["findings"]] == [
        (
            cp["seq"],
            f"seq {cp['seq']} is in the checkpoint of {cp['at']} but the chain ends at seq {first - 1} "
            "(rows removed and the head moved back)",
        )
    ]
    # New entries bring the head past the checkpoint again: it is not re-signed over the cut.
    case_id = next(e.entity_id for e in await _entries(service) if e.action == "close")
    sup = await login(client, "lakeside")
    for _ in range(4):
        assert (await client.get(f"/cases/{case_id}", headers=sup)).status_code == 200
    assert (await _entries(service))[-1].seq > cp["seq"]
    with caplog.at_level(logging.ERROR, logger="bk_cases.audit.scheduled"):
        assert await checkpoint_once(service.ctx) == 0
    assert "no longer holds its checkpoint" in caplog.text
    assert not (await _verify(client))["ok"]


async def test_deleting_the_whole_chain_and_its_head_is_caught_by_the_checkpoint(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await _activity(service, client, clock)
    assert await checkpoint_once(service.ctx) == 1
    async with service.db.session() as s:
        await s.execute(delete(AuditEntry))
        await s.execute(delete(AuditHead))
    report = await _verify(client)
    assert not report["ok"] and report["entries"] == 0
    assert "but the chain ends at seq 0" in report["findings"][0]["problem"]
    async with service.db.session() as s:  # the operator's command still looks at this tenant
        assert TENANT in await audit.tenants(db_session=s)


async def test_a_forged_checkpoint_is_reported(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await _activity(service, client, clock)
    assert await checkpoint_once(service.ctx) == 1
    key = f"{TENANT}/audit/checkpoint.json"
    cp = json.loads(await service.ctx.runtime.store.get(key))
    cp["seq"] -= 1
    await service.ctx.runtime.store.put(key, json.dumps(cp).encode(), "application/json")
    report = await _verify(client)
    assert [(f["seq"], "does not verify" in f["problem"]) for f in report["findings"]] == [(None, True)]


async def test_a_guessed_key_does_not_verify(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Re-chained with HMAC under a key of the attacker's, claiming the real key's id."""
    await _activity(service, client, clock)
    entries = await _entries(service)
    real_kid, guess = entries[0].key_id, secrets.token_bytes(32)
    async with service.db.session() as s:
        prev = GENESIS
        for r in entries:
            fields = dict(
                prev_hash=prev,
                tenant_id=r.tenant_id,
                seq=r.seq,
                at=r.at,
                actor_id="mallory" if r.action == "close" else r.actor_id,
                action=r.action,
                entity_type=r.entity_type,
                entity_id=r.entity_id,
                data=r.data,
            )
            digest = entry_hash(key=guess, key_id=real_kid, **fields)
            await s.execute(
                update(AuditEntry)
                .where(AuditEntry.tenant_id == TENANT, AuditEntry.seq == r.seq)
                .values(actor_id=fields["actor_id"], prev_hash=prev, hash=digest)
            )
            prev = digest
        await s.execute(update(AuditHead).where(AuditHead.tenant_id == TENANT).values(hash=prev))
    report = await _verify(client)
    assert [f["seq"] for f in report["findings"]] == [e.seq for e in entries]


async def test_the_key_is_not_in_the_database_and_the_command_fails(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock, tmp_path: Path
) -> None:
    """The embedded key is generated beside, never inside, the database; ``verify-audit`` (what an
    operator runs, with the key and without the service) exits 1 on a re-chained log."""
    await _activity(service, client, clock)
    key_file = tmp_path / "secrets" / audit.EMBEDDED_KEY_NAME
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip().encode()
    db_bytes = _database_bytes(tmp_path)
    assert key not in db_bytes and key.hex().encode() not in db_bytes and b"audit_log" in db_bytes
    assert {e.key_id for e in await _entries(service)} == {key_id(key)}

    env = {k: v for k, v in os.environ.items() if not k.startswith("BK_")}
    env.update(BK_DATA_DIR=str(tmp_path), BK_LOG_JSON="false")

    def verify() -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "bk_cases", "verify-audit", TENANT]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)

    assert verify().returncode == 0
    first = await rechain(service, _edit_false_alarm)
    broken = verify()
    assert broken.returncode == 1 and f"{TENANT}: BROKEN" in broken.stdout, broken.stdout + broken.stderr
    assert f"seq {first}: content does not match its keyed hash" in broken.stdout


def _database_bytes(data_dir: Path) -> bytes:
    """The database's files as they are on disk, read by another process: closing a descriptor of
    the file in this one would drop the service's SQLite locks (POSIX locks are per process)."""
    files = [str(p) for p in data_dir.glob("case-manager.sqlite*")]
    return subprocess.run(["cat", *files], capture_output=True, check=True, timeout=60).stdout


# --- what is chained ------------------------------------------------------------------------------


async def test_rectifications_verdicts_directory_and_evidence_access_are_chained(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    ids = await _activity(service, client, clock)
    admin = await login(client, "admin")
    r = await client.get("/exports/verdicts", headers=admin)
    assert r.status_code == 200
    manifest = zipfile.ZipFile(io.BytesIO(r.content)).read(MANIFEST)
    exported = {rec.case_id for rec in parse_set(manifest).records}
    entries = await _entries(service)
    data = {e.seq: json.loads(e.data) for e in entries}

    def of(action: str, entity_id: str | None = None) -> list[AuditEntry]:
        return [e for e in entries if e.action == action and entity_id in (None, e.entity_id)]

    # Directory: the demo seed's tenant, org units, sites, zones, cameras and users, as created.
    created = {(e.entity_type, e.entity_id) for e in of("directory.create")}
    assert ("tenant", TENANT) in created and ("site", "lakeside-primary") in created
    assert ("camera", "lakeside-primary-prep") in created and ("org_unit", "lakeside-north") in created
    assert ("user", f"{TENANT}:manager") in created and ("zone", "lakeside-primary/prep") in created
    manager = next(e for e in of("directory.create", f"{TENANT}:manager"))
    assert data[manager.seq]["row"]["password_hash"] == "(set)"  # a change, never the hash
    # Rectification: who submitted what, with its photos.
    (submit,) = of("submit", ids["confirmed"])
    assert submit.actor_id == f"{TENANT}:manager" and data[submit.seq]["photos"].endswith(".jpg")
    assert data[submit.seq]["rectification_id"]
    # Verdicts: confirmed, false alarm, and the label correction.
    assert data[of("close", ids["confirmed"])[0].seq]["verdict"] == "confirmed"
    assert data[of("false_alarm", ids["false_alarm"])[0].seq]["verdict"] == "false_alarm"
    assert data[of("label", ids["false_alarm"])[0].seq]["after"]["not_violation"] is True
    # Staff access to evidence: the case page with the rectification photo, the labelling page.
    views = {e.entity_id: data[e.seq] for e in of("evidence.access")}
    seen = of("evidence.access", ids["confirmed"])
    assert seen and all(e.actor_id == f"{TENANT}:lakeside" for e in seen)
    assert any(any("/rectifications/" in k for k in data[e.seq]["objects"]) for e in seen)  # the after-photo
    assert views[ids["false_alarm"]]["via"] == "labels"
    (export,) = of("evidence.export")
    assert export.actor_id == f"{TENANT}:admin" and set(data[export.seq]["cases"]) == exported
    report = await _verify(client)
    assert report["ok"] and report["entries"] == len(entries)


async def test_directory_updates_and_deactivations_are_chained_and_an_unchanged_reseed_is_not(
    service: CaseService, client: httpx.AsyncClient
) -> None:
    before = len(await _entries(service))
    await service.seed_demo(DEMO)  # idempotent: nothing changed, nothing chained
    assert len(await _entries(service)) == before
    async with service.db.session() as s, audit.directory_changes(s, actor_id=f"{TENANT}:admin"):
        site = await s.get(Site, (TENANT, "lakeside-primary"))
        assert site is not None
        site.name = "湖滨第一小学食堂（新）"
        user = await s.scalar(select(User).where(User.id == f"{TENANT}:staff"))
        assert user is not None
        user.active = False
        user.password_hash = "$argon2id$v=19$not-a-real-hash"
    new = (await _entries(service))[before:]
    changes = {(e.entity_type, e.entity_id): json.loads(e.data)["changed"] for e in new}
    assert changes[("site", "lakeside-primary")] == {
        "name": {"before": "湖滨第一小学食堂", "after": "湖滨第一小学食堂（新）"}
    }
    assert changes[("user", f"{TENANT}:staff")]["active"] == {"before": True, "after": False}
    assert changes[("user", f"{TENANT}:staff")]["password_hash"] == {"before": "(set)", "after": "(set)"}
    assert {e.action for e in new} == {"directory.update"} and {e.actor_id for e in new} == {
        f"{TENANT}:admin"
    }
    assert (await _verify(client))["ok"]


async def test_a_service_reading_a_case_for_parents_is_not_staff_access(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    cid = await _open_case(service, client, clock, "rodent")
    before = len(await _entries(service))
    token = service.ctx.runtime.tokens.issue(
        service_principal("public-api", TENANT, Scope.CASES_READ), audience=[CASE_MANAGER]
    )
    r = await client.get(f"/cases/{cid}", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.json()["raw_snapshot_url"]
    assert len(await _entries(service)) == before
    r = await client.get(f"/cases/{cid}", headers=await login(client, "lakeside"))
    assert r.status_code == 200
    (view,) = (await _entries(service))[before:]
    assert view.action == "evidence.access" and view.actor_id == f"{TENANT}:lakeside"
    assert f"{TENANT}/evidence/2026/09/01/rodent/raw.jpg" in json.loads(view.data)["objects"]


async def test_evidence_another_service_gave_staff_is_chained_once(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    """The public API's console tells the case-manager (``evidence.access.v1``); a redelivered
    event is chained once."""
    before = len(await _entries(service))
    event = EvidenceAccessed(
        meta=new_meta(
            tenant_id=TENANT, key=f"{TENANT}:lakeside", producer="public-api", occurred_at=clock.now()
        ),
        actor_id=f"{TENANT}:lakeside",
        actor_role="supervisor",
        via="console case board",
        object_keys=[f"{TENANT}/evidence/a.jpg", f"{TENANT}/evidence/b.jpg"],
        case_ids=["case-a", "case-b"],
    )
    await service.ctx.runtime.bus.publish("evidence.access.v1", event)
    await service.ctx.runtime.bus.publish("evidence.access.v1", event)  # redelivered
    await eventually(lambda: _count_after(service, before, 1))
    single = EvidenceAccessed()
    single.CopyFrom(event)
    single.meta.event_id, single.via = "another-event", "console case"
    del single.case_ids[1:]
    await service.ctx.runtime.bus.publish("evidence.access.v1", single)
    await eventually(lambda: _count_after(service, before, 2))
    board, one = (await _entries(service))[before:]
    assert (board.action, board.actor_id, board.entity_type) == (
        "evidence.access",
        f"{TENANT}:lakeside",
        "cases",
    )
    data = json.loads(board.data)
    assert data["objects"] == list(event.object_keys) and data["cases"] == ["case-a", "case-b"]
    assert data["via"] == "console case board" and data["producer"] == "public-api"
    assert (one.entity_type, one.entity_id) == ("case", "case-a")
    assert (await _verify(client))["ok"]


async def _count_after(service: CaseService, before: int, n: int) -> bool:
    return len(await _entries(service)) - before == n


# --- rotation -------------------------------------------------------------------------------------


async def _service(tmp_path: Path, clock: FakeClock, **settings: object) -> CaseService:
    runtime, base = make_runtime(tmp_path, clock)
    s = base.model_copy(update=settings)
    runtime = Runtime(settings=s, bus=runtime.bus, store=runtime.store, tokens=runtime.tokens, clock=clock)
    svc = create_service(runtime, s)
    await svc.start()
    return svc


async def test_rotation_keeps_old_entries_verifiable_until_their_key_is_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Entries and checkpoints name the key that made them: after a rotation the old key, listed in
    BK_AUDIT_PREVIOUS_KEYS, keeps verifying them; dropped too soon, each is named by seq."""
    clock = FakeClock()
    old, new = secrets.token_hex(32), secrets.token_hex(32)
    monkeypatch.setenv("BK_AUDIT_KEY", new)
    monkeypatch.setenv("BK_AUDIT_PREVIOUS_KEYS", json.dumps([old]))
    rotated = CaseSettings()  # what an operator sets, read from the environment
    monkeypatch.delenv("BK_AUDIT_KEY")
    monkeypatch.delenv("BK_AUDIT_PREVIOUS_KEYS")

    svc = await _service(tmp_path, clock, audit_key=SecretStr(old))
    await svc.seed_demo(DEMO)
    assert await checkpoint_once(svc.ctx) == 1  # signed with the old key
    await svc.stop()
    svc = await _service(
        tmp_path, clock, audit_key=rotated.audit_key, audit_previous_keys=rotated.audit_previous_keys
    )
    async with svc.db.session() as s, audit.directory_changes(s, actor_id="ops"):
        site = await s.get(Site, (TENANT, "hillview-noodle"))
        assert site is not None
        site.opening_hours = "09:00-21:00"
    entries = await _entries(svc)
    async with svc.db.session() as s:
        report = await audit.verify(db_session=s, tenant_id=TENANT, store=svc.ctx.runtime.store)
    await svc.stop()
    assert report.ok, report.problems
    assert {e.key_id for e in entries[:-1]} == {key_id(old.encode())}
    assert entries[-1].key_id == key_id(new.encode())
    assert report.key_ids == sorted({key_id(old.encode()), key_id(new.encode())})

    svc = await _service(tmp_path, clock, audit_key=rotated.audit_key)  # the old key dropped too soon
    async with svc.db.session() as s:
        report = await audit.verify(db_session=s, tenant_id=TENANT, store=svc.ctx.runtime.store)
    await svc.stop()
    assert [f.seq for f in report.findings] == [*(e.seq for e in entries[:-1]), None]
    assert all("unknown audit key" in f.problem for f in report.findings)


# --- settings -------------------------------------------------------------------------------------


def _production(**extra: object) -> str:
    with pytest.raises(ValidationError) as exc:
        CaseSettings(
            mode="production",
            bus="kafka",
            kafka_bootstrap="kafka:9092",
            object_store="s3",
            s3_endpoint="minio:9000",
            database_url="postgresql://cases@db/cases",
            url_signing_secret=URL_SECRET,
            **extra,
        )
    return str(exc.value)


URL_SECRET = secrets.token_hex(32)


def test_production_refuses_a_missing_audit_key_by_name() -> None:
    assert "BK_AUDIT_KEY must be set" in _production()
    assert "BK_AUDIT_KEY" not in _production(audit_key=secrets.token_hex(32))


def test_weak_shared_or_placeholder_audit_keys_are_refused() -> None:
    assert "BK_AUDIT_KEY must be at least 32 bytes" in _production(audit_key="a1b2c3")
    with pytest.raises(ValidationError, match="BK_AUDIT_PREVIOUS_KEYS\\[0\\] must be at least 32 bytes"):
        CaseSettings(audit_previous_keys=["short"])  # in every mode
    # The URL-signing secret is held by every service: any of them could then re-chain the log.
    assert "BK_AUDIT_KEY must not be the value of BK_URL_SIGNING_SECRET" in _production(audit_key=URL_SECRET)
    typed = "audit-key-for-tests-" + "x1y2z3w4" * 3
    assert "BK_AUDIT_KEY is a known test or placeholder value" in _production(audit_key=typed)
    assert "BK_AUDIT_PREVIOUS_KEYS is a known test or placeholder value" in _production(
        audit_key=secrets.token_hex(32), audit_previous_keys=[typed]
    )


def test_embedded_mode_generates_the_key_once_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = CaseSettings(data_dir=tmp_path)
    with caplog.at_level(logging.WARNING, logger="bk_cases.audit.service"):
        first = audit.keys_from_settings(settings)
    assert "generated key" in caplog.text and first.signing_id in caplog.text
    assert audit.keys_from_settings(settings) == first  # kept: a restart verifies what was written


# --- the rules alone ------------------------------------------------------------------------------


@pytest.mark.unit
def test_rules_report_each_problem_at_its_seq() -> None:
    keys = AuditKeys.of([secrets.token_hex(32)])
    chain, prev = [], GENESIS
    at = FakeClock().now()
    for seq in range(1, 5):
        body = dict(
            prev_hash=prev,
            tenant_id="t",
            seq=seq,
            at=at + timedelta(seconds=seq),
            actor_id="u",
            action="close",
            entity_type="case",
            entity_id="c",
            data="{}",
        )
        digest = entry_hash(key=keys.signing_key, key_id=keys.signing_id, **body)
        chain.append(ChainEntry(key_id=keys.signing_id, hash=digest, **body))  # type: ignore[arg-type]
        prev = digest
    assert verify_chain(chain, keys, head_seq=4, head_hash=prev) == []
    unkeyed = [ChainEntry(**{**_fields(e), "key_id": ""}) for e in chain]
    assert {f.seq for f in verify_chain(unkeyed, keys, head_seq=4, head_hash=prev)} == {1, 2, 3, 4}
    gap = [chain[0], chain[2], chain[3]]
    assert [f.seq for f in verify_chain(gap, keys, head_seq=4, head_hash=prev)] == [2, 3]  # missing, link
    assert [f.seq for f in verify_chain(chain[:3], keys, head_seq=4, head_hash=prev)] == [3]  # the head


@pytest.mark.unit
def test_a_report_lists_at_most_max_findings_and_counts_the_rest() -> None:
    keys = AuditKeys.of([secrets.token_hex(32)])
    at = FakeClock().now()
    chain, prev = [], GENESIS
    for seq in range(1, MAX_FINDINGS + 6):
        e = ChainEntry(
            "t", seq, at, "u", "close", "case", "c", "{}", "", prev, hashlib.sha256(prev.encode()).hexdigest()
        )
        chain.append(e)
        prev = e.hash
    found = verify_chain(chain, keys, head_seq=len(chain), head_hash=prev)
    assert len(found) == MAX_FINDINGS + 1 and found[-1] == Finding(None, "5 more problems not listed")


def _fields(e: ChainEntry) -> dict[str, object]:
    return {name: getattr(e, name) for name in ChainEntry.__slots__}  # type: ignore[attr-defined]


@pytest.mark.unit
def test_key_ids_and_refusals() -> None:
    a, b = secrets.token_hex(32), secrets.token_hex(32)
    keys = AuditKeys.of([a, b])
    assert keys.signing_id == key_id(a.encode()) != key_id(b.encode()) and set(keys.keys) == {
        key_id(a.encode()),
        key_id(b.encode()),
    }
    assert hmac.compare_digest(keys.signing_key, a.encode())
    assert audit_key_refusals(a, [b], {"BK_WEBHOOK_SECRET": b}) == [
        "BK_AUDIT_PREVIOUS_KEYS[0] must not be the value of BK_WEBHOOK_SECRET; give the audit its own key"
    ]
    assert directory_change("users", "update", {}, {"password_hash": ("x", "y")}) == {
        "changed": {"password_hash": {"before": "(set)", "after": "(set)"}}
    }


@pytest.mark.integration
async def test_the_attack_on_postgresql(tmp_path: Path) -> None:
    """Migration 0011's key_id column and the same detection on the production database."""
    clock = FakeClock()
    async with fresh_database() as url:
        svc = await _service(tmp_path, clock, database_url=url, audit_key=SecretStr(secrets.token_hex(32)))
        await svc.ctx.runtime.bus.start()
        try:
            await svc.seed_demo(DEMO)
            transport = httpx.ASGITransport(app=svc.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://cases") as client:
                await _activity(svc, client, clock)
                assert (await _verify(client))["ok"]
                first = await rechain(svc, _delete_an_evidence_view)
                report = await _verify(client)
                assert not report["ok"] and report["findings"][0]["seq"] == first
        finally:
            await svc.ctx.runtime.bus.stop()
            await svc.stop()


async def test_concurrent_appends_on_sqlite_each_get_their_own_seq(
    service: CaseService, client: httpx.AsyncClient
) -> None:
    """The embedded database: twenty transactions appending at once (a busy console) once read the
    same head and collided on UNIQUE(seq), losing the request's audit entry with the request."""
    import asyncio
    from datetime import UTC, datetime

    async def one(i: int) -> None:
        async with service.db.session() as s:
            at = datetime.now(UTC)
            await audit.append(
                db_session=s, tenant_id=TENANT, at=at, actor_id="a", action="x", entity_type="t",
                entity_id=str(i), data={},
            )  # fmt: skip
            await asyncio.sleep(0.01)  # still in the transaction while the others try

    before = len(await _entries(service))
    await asyncio.gather(*(one(i) for i in range(20)))
    assert len(await _entries(service)) == before + 20
    assert (await _verify(client))["findings"] == []
