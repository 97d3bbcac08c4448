"""Supervisors' labels on captures, audited, and the ``bk-verdicts`` export the trainer reads.

Confirmed cases become labels in model terms, false alarms hard negatives for exactly the class they
raised, a supervisor's corrections replace both, and a capture that means nothing to the model is
listed as skipped (never an empty "nothing here" frame).
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import httpx
import pytest
from cm_demo import DEMO
from cm_pg import fresh_database
from cm_testkit import detection, eventually, login, make_runtime
from PIL import Image

from bk_cases.service import CaseService, create_service
from bkcore.clock import FakeClock
from bkcore.service import Runtime
from bkcore.verdicts import MANIFEST, parse_set

BOX = [0.1, 0.1, 0.5, 0.6]  # cm_testkit.detection's box


def _jpeg(colour: tuple[int, int, int], size: tuple[int, int] = (320, 180)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "JPEG")
    return buf.getvalue()


async def _open_case(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock, vtype: str, sup: dict[str, str]
) -> str:
    event = detection(clock, vtype)
    event.raw_snapshot_key = f"minghu/evidence/2026/09/01/{vtype}/raw.jpg"
    await service.ctx.runtime.store.put(event.raw_snapshot_key, _jpeg((40, 90, 140)), "image/jpeg")
    await service.ctx.runtime.bus.publish("detections.v1", event)

    async def found() -> str | None:
        items = (await client.get("/cases", headers=sup, params={"case_type": vtype})).json()["items"]
        return items[0]["id"] if items else None

    return await eventually(found)


async def _confirm(client: httpx.AsyncClient, cid: str, sup: dict[str, str], mgr: dict[str, str]) -> None:
    status = (await client.get(f"/cases/{cid}", headers=sup)).json()["status"]
    if status == "new":
        assert (await client.post(f"/cases/{cid}/dispatch", headers=sup)).status_code == 200
    assert (await client.post(f"/cases/{cid}/acknowledge", headers=mgr)).status_code == 200
    files = [("photos", ("after.jpg", _jpeg((200, 200, 200)), "image/jpeg"))]
    assert (await client.post(f"/cases/{cid}/rectifications", headers=mgr, files=files)).status_code == 200
    assert (await client.post(f"/cases/{cid}/approve", headers=sup)).status_code == 200
    assert (await client.post(f"/cases/{cid}/close", headers=sup)).json()["verdict"] == "confirmed"


async def test_labels_are_audited_and_the_export_speaks_model_terms(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await _scenario(service, client, clock)


@pytest.mark.integration
async def test_the_same_on_postgresql(tmp_path: Path) -> None:
    """Migration 0004's JSON column and the export's query on the production database."""
    clock = FakeClock()
    async with fresh_database() as url:
        runtime, settings = make_runtime(tmp_path, clock)
        settings = settings.model_copy(update={"database_url": url})
        runtime = Runtime(
            settings=settings, bus=runtime.bus, store=runtime.store, tokens=runtime.tokens, clock=clock
        )
        svc = create_service(runtime, settings)
        await svc.start()
        await runtime.bus.start()
        try:
            await svc.seed_demo(DEMO)
            transport = httpx.ASGITransport(app=svc.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://cases") as client:
                await _scenario(svc, client, clock)
        finally:
            await runtime.bus.stop()
            await svc.stop()


async def _scenario(service: CaseService, client: httpx.AsyncClient, clock: FakeClock) -> None:
    sup, mgr, admin = (
        await login(client, "north"),
        await login(client, "manager"),
        await login(client, "admin"),
    )
    ids = {
        v: await _open_case(service, client, clock, v, sup)
        for v in ("rodent", "no_chef_hat", "phone_use", "stranger", "trash_bin_open")
    }
    assert (await client.post(f"/cases/{ids['rodent']}/false-alarm", headers=sup)).status_code == 200
    assert (await client.post(f"/cases/{ids['stranger']}/false-alarm", headers=sup)).status_code == 200
    await _confirm(client, ids["no_chef_hat"], sup, mgr)
    await _confirm(client, ids["phone_use"], sup, mgr)

    # What the verdict means, before anyone corrects it.
    got = (await client.get(f"/cases/{ids['no_chef_hat']}/labels", headers=sup)).json()
    assert got["labelled_by"] == "verdict"
    assert got["labels"]["objects"] == [
        {"label": "person", "box": BOX, "located": True, "attributes": {"chef_hat": 0}}
    ]
    assert got["not_violation"]["objects"][0]["attributes"] == {"chef_hat": 1}
    assert got["not_violation"]["not_violation"] is True
    assert got["raw_snapshot_url"] and "person" in got["vocabulary"]["labels"]
    still_open = (await client.get(f"/cases/{ids['trash_bin_open']}/labels", headers=sup)).json()
    assert still_open["labels"] is None and still_open["labelled_by"] == "none"  # no verdict yet ...
    assert (
        still_open["claimed"]["objects"][0]["label"] == "trash_bin_open"
    )  # ... the detector's claim to start from

    # The supervisor moves the box, adds the colleague beside him, says the bin is open.
    corrected = {
        "objects": [
            {"label": "person", "box": [0.12, 0.08, 0.48, 0.7], "attributes": {"chef_hat": 0, "mask": 1}},
            {"label": "person", "box": [0.6, 0.2, 0.9, 0.95], "attributes": {"chef_hat": 1}},
        ],
        "absent": [{"label": "rodent", "box": [0.0, 0.7, 0.4, 1.0]}],
    }
    r = await client.put(f"/cases/{ids['no_chef_hat']}/labels", headers=sup, json=corrected)
    assert r.status_code == 200, r.text
    assert r.json()["labelled_by"] == "supervisor" and len(r.json()["labels"]["objects"]) == 2
    open_bin = {"objects": [{"label": "trash_bin_open", "box": [0.3, 0.5, 0.5, 0.8]}]}
    assert (
        await client.put(f"/cases/{ids['trash_bin_open']}/labels", headers=sup, json=open_bin)
    ).status_code == 200

    # Bad input is refused by name; roles and scope are checked on the server.
    bad = await client.put(
        f"/cases/{ids['rodent']}/labels",
        headers=sup,
        json={"objects": [{"label": "cat", "box": [0.1, 0.1, 0.2, 0.2]}]},
    )
    assert bad.status_code == 422 and "unknown label 'cat'" in json.dumps(bad.json())
    bad = await client.put(
        f"/cases/{ids['rodent']}/labels",
        headers=sup,
        json={"objects": [{"label": "person", "box": [0.5, 0.1, 0.2, 0.2]}]},
    )
    assert bad.status_code == 422 and "box" in json.dumps(bad.json())
    assert (await client.put(f"/cases/{ids['rodent']}/labels", headers=mgr, json=open_bin)).status_code == 403
    other = await login(client, "hillview")  # a supervisor of another subtree
    assert (await client.get(f"/cases/{ids['rodent']}/labels", headers=other)).status_code == 404

    # Audited like every change of a case, and on its timeline.
    detail = (await client.get(f"/cases/{ids['no_chef_hat']}", headers=sup)).json()
    assert [e["action"] for e in detail["timeline"]][-1] == "label"
    entries = (await client.get("/audit", headers=admin, params={"entity_id": ids["no_chef_hat"]})).json()
    label_entries = [e for e in entries if e["action"] == "label"]
    assert len(label_entries) == 1 and json.loads(label_entries[0]["data"])["after"]["objects"][1]["box"] == [
        0.6,
        0.2,
        0.9,
        0.95,
    ]
    assert (await client.get("/audit/verify", headers=admin)).json()["ok"] is True

    # The export: one format, in model terms, pictures where verdicts.json says.
    r = await client.get("/exports/verdicts", headers=admin)
    assert r.status_code == 200, r.text
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    doc = parse_set(zf.read(MANIFEST))
    by_case = {rec.case_id: rec for rec in doc.records}
    assert set(by_case) == {ids["rodent"], ids["no_chef_hat"], ids["phone_use"], ids["trash_bin_open"]}
    for rec in doc.records:
        assert rec.file_name == f"images/{rec.case_id}.jpg" and zf.read(rec.file_name)[:2] == b"\xff\xd8"
        assert (rec.width, rec.height) == (320, 180)
    rodent = by_case[ids["rodent"]]
    assert rodent.verdict == "false_alarm" and rodent.labels.objects == []
    assert [(a.label, list(a.box)) for a in rodent.labels.absent] == [
        ("rodent", BOX)
    ]  # only rodent, only there
    hat = by_case[ids["no_chef_hat"]]
    assert hat.labelled_by == "supervisor" and [o.attributes for o in hat.labels.objects] == [
        {"chef_hat": 0, "mask": 1},
        {"chef_hat": 1},
    ]
    phone = by_case[ids["phone_use"]]
    assert [(o.label, o.located) for o in phone.labels.objects] == [("person", True), ("phone", False)]
    assert by_case[ids["trash_bin_open"]].verdict == ""  # still open, but labelled
    assert [s.case_id for s in doc.skipped] == [ids["stranger"]]
    assert "means nothing to the model" in doc.skipped[0].reason

    # "Not a violation", then back to what the verdict says.
    nv = (await client.get(f"/cases/{ids['phone_use']}/labels", headers=sup)).json()["not_violation"]
    r = await client.put(f"/cases/{ids['phone_use']}/labels", headers=sup, json=nv)
    assert (
        r.json()["labels"]["absent"] == [{"label": "phone", "box": BOX}]
        and r.json()["labels"]["not_violation"]
    )
    r = await client.delete(f"/cases/{ids['phone_use']}/labels", headers=sup)
    assert r.json()["labelled_by"] == "verdict" and r.json()["labels"]["objects"][1]["located"] is False
    actions = [
        e["action"] for e in (await client.get(f"/cases/{ids['phone_use']}", headers=sup)).json()["timeline"]
    ]
    assert actions[-2:] == ["label", "label"]
