"""Suppliers and purchases with photos (all or nothing), and traceability both ways."""

from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image


def png(size: tuple[int, int] = (8, 8)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, "PNG")
    return buf.getvalue()


SUP = {
    "site_id": "lakeside-primary",
    "name": "明湖蔬菜配送",
    "address": "菜市路 1 号",
    "contact": "赵",
    "phone": "0571-88886666",
    "business_licence_no": "91350100M000100Y43",
    "food_licence_no": "JY13301000001",
    "food_licence_expires": "2027-12-31",
}


def objects(tmp_path: Path) -> list[Path]:
    root = tmp_path / "objects"
    return [p for p in root.rglob("*") if p.is_file() and ".meta" not in p.parts] if root.exists() else []


async def supplier(h) -> str:  # type: ignore[no-untyped-def]
    r = await h.client.post(
        "/v1/suppliers",
        headers=h.auth(),
        data={"payload": json.dumps(SUP)},
        files=[("licences", ("l.png", png(), "image/png"))],
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def test_bad_uploads_store_nothing(h, tmp_path) -> None:  # type: ignore[no-untyped-def]
    sid = await supplier(h)
    before = len(objects(tmp_path))
    pur = {
        "site_id": "lakeside-primary",
        "item": "青菜",
        "spec": "5kg/箱",
        "quantity": 10,
        "unit": "箱",
        "batch_no": "B1",
        "purchase_date": "2026-09-01",
        "supplier_id": sid,
    }
    cases = [
        [("certificates", ("c.png", png(), "image/png")), ("invoices", ("i.txt", b"hello", "text/plain"))],
        [
            ("certificates", ("c.png", png((400, 400)) + b"\0" * 70_000, "image/png")),
            ("invoices", ("i.png", png(), "image/png")),
        ],
        [("certificates", ("c.png", png()[:30], "image/png")), ("invoices", ("i.png", png(), "image/png"))],
        [("invoices", ("i.png", png(), "image/png"))],
    ]
    for files in cases:
        r = await h.client.post(
            "/v1/purchases", headers=h.auth(), data={"payload": json.dumps(pur)}, files=files
        )
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"][1] in ("certificates", "invoices")
    # valid photos, unknown supplier: photos were put, then must be removed again
    r = await h.client.post(
        "/v1/purchases",
        headers=h.auth(),
        data={"payload": json.dumps({**pur, "supplier_id": "x"})},
        files=[("certificates", ("c.png", png(), "image/png")), ("invoices", ("i.png", png(), "image/png"))],
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "supplier_id"
    r = await h.client.post("/v1/purchases", headers=h.auth(), data={"payload": "{not json"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "payload"]
    assert len(objects(tmp_path)) == before
    assert (await h.client.get("/v1/purchases", headers=h.auth())).json() == []


async def test_trace_failed_test_to_supplier_and_meals(h) -> None:  # type: ignore[no-untyped-def]
    sid = await supplier(h)
    pur = {
        "site_id": "lakeside-primary",
        "item": "青菜",
        "spec": "5kg/箱",
        "quantity": 10,
        "unit": "箱",
        "batch_no": "B7",
        "purchase_date": "2026-09-01",
        "supplier_id": sid,
        "production_date": "2026-08-31",
        "shelf_life_days": 5,
    }
    r = await h.client.post(
        "/v1/purchases",
        headers=h.auth(),
        data={"payload": json.dumps(pur)},
        files=[("certificates", ("c.png", png(), "image/png")), ("invoices", ("i.jpg", png(), "image/png"))],
    )
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    rec = (await h.client.get(f"/v1/purchases/{pid}", headers=h.auth())).json()
    assert rec["retain_until"] == "2027-03-05"
    url = await h.client.get(f"/v1/photos/{rec['invoice_photos'][0]}", headers=h.auth())
    assert url.status_code == 200 and "sig=" in url.json()["url"]
    dish = (
        await h.client.post(
            "/v1/dishes-served",
            headers=h.auth(),
            json={
                "site_id": "lakeside-primary",
                "meal_date": "2026-09-01",
                "meal": "lunch",
                "dish": "清炒青菜",
                "purchase_ids": [pid],
            },
        )
    ).json()["id"]
    await h.client.post(
        "/v1/samples",
        headers=h.auth(),
        json={
            "site_id": "lakeside-primary",
            "dish": "清炒青菜",
            "meal": "lunch",
            "meal_date": "2026-09-01",
            "weight_g": 150,
            "taken_at": "2026-09-01T11:30:00+08:00",
            "taker": "张",
            "fridge": "F1",
            "planned_disposal_at": "2026-09-03T12:00:00+08:00",
        },
    )
    test = (
        await h.client.post(
            "/v1/pesticide-tests",
            headers=h.auth(),
            json={
                "site_id": "lakeside-primary",
                "sample_no": "N9",
                "item": "青菜",
                "inhibition_pct": 72,
                "tester": "王",
                "tested_at": "2026-09-01T15:00:00+08:00",
                "purchase_id": pid,
                "disposition": "returned",
            },
        )
    ).json()["id"]
    t = (await h.client.get(f"/v1/trace/pesticide-tests/{test}", headers=h.auth())).json()
    assert t["purchase"]["batch_no"] == "B7" and t["supplier"]["name"] == "明湖蔬菜配送"
    assert t["served_in"][0]["dish"] == "清炒青菜" and t["served_in"][0]["samples"][0]["weight_g"] == 150
    back = (await h.client.get(f"/v1/trace/dishes/{dish}", headers=h.auth())).json()
    assert back["batches"][0]["supplier"]["id"] == sid
    bad = await h.client.post(
        "/v1/dishes-served",
        headers=h.auth(),
        json={
            "site_id": "lakeside-primary",
            "meal_date": "2026-09-01",
            "meal": "lunch",
            "dish": "x",
            "purchase_ids": [pid, "nope"],
        },
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "purchase_ids", 1]
