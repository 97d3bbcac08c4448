"""Bulk import of sites and users from CSV and XLSX (#18): the dry run lists every row's error (row
and column) and writes nothing; a run with errors writes nothing either; a clean run writes every
row, chains it in the audit and publishes it; running it again updates instead of duplicating."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import httpx
import pytest
from cm_testkit import login
from openpyxl import Workbook

from bk_cases.service import CaseService

SITES_CSV = """编号,名称,类型,所属单位,地址,纬度,经度,营业时间,功能区
lake-a,湖滨甲小学食堂,school_canteen,lakeside-north,湖滨路 1 号,30.27,120.15,06:30-19:30,prep;cooking:热厨
lake-b,湖滨乙幼儿园,kindergarten,lakeside-north,湖滨路 2 号,,,07:00-18:00,serving
"""

BAD_SITES_CSV = """id,name,kind,org_id,latitude,longitude,opening_hours,zones
ok-1,好食堂,restaurant,lakeside,30.1,120.1,10:00-22:00,cooking
bad id,坏编号,restaurant,lakeside,,,,
bad-kind,类型错,disco,lakeside,,,,
bad-unit,单位错,restaurant,nowhere,,,,
bad-hours,时间错,restaurant,lakeside,,,7点-9点,
bad-geo,坐标错,restaurant,lakeside,95,120,,
bad-zone,区域错,restaurant,lakeside,,,,roof
ok-1,重复,restaurant,lakeside,,,,
far,别区,restaurant,hillview,,,,
"""


@pytest.fixture
async def admin(client: httpx.AsyncClient) -> AsyncIterator[dict[str, str]]:
    yield await login(client, "admin")


async def _upload(
    client: httpx.AsyncClient, h: dict[str, str], kind: str, name: str, data: bytes, *, dry_run: bool
) -> httpx.Response:
    return await client.post(
        f"/import/{kind}/file",
        headers=h,
        files={"file": (name, data)},
        data={"dry_run": "true" if dry_run else "false"},
    )


async def _site_ids(client: httpx.AsyncClient, h: dict[str, str]) -> set[str]:
    return {s["id"] for s in (await client.get("/sites", headers=h)).json()}


async def test_dry_run_lists_every_row_error_and_writes_nothing(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    lakeside = await login(client, "lakeside")
    await client.patch("/users/lakeside", headers=admin, json={"bureau_admin": True})
    before = await _site_ids(client, admin)
    audit_before = len((await client.get("/audit", headers=admin)).json())
    for dry_run in (True, False):  # the real run refuses the same rows and writes nothing either
        r = await _upload(client, lakeside, "sites", "sites.csv", BAD_SITES_CSV.encode(), dry_run=dry_run)
        assert r.status_code == 422, r.text
        report = r.json()
        by_row = {(e["row"], e["field"]) for e in report["errors"]}
        assert by_row == {
            (3, "id"),
            (4, "kind"),
            (5, "org_id"),
            (6, "opening_hours"),
            (7, "latitude"),
            (8, "zones"),
            (9, "id"),  # the same id as row 2
            (10, "org_id"),  # outside the bureau admin's subtree
        }, report["errors"]
        assert report["rows"] == 9 and report["created"] == ["ok-1"]
        messages = {(e["row"]): e["message"] for e in report["errors"]}
        assert "row 2" in messages[9] and "HH:MM-HH:MM" in messages[6]
    assert await _site_ids(client, admin) == before
    assert len((await client.get("/audit", headers=admin)).json()) == audit_before


async def test_sites_then_users_from_csv_and_xlsx(
    service: CaseService, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    dry = await _upload(client, admin, "sites", "sites.csv", SITES_CSV.encode("gb18030"), dry_run=True)
    assert dry.status_code == 200 and dry.json()["created"] == ["lake-a", "lake-b"], dry.text
    assert not {"lake-a", "lake-b"} & await _site_ids(client, admin)
    done = await _upload(client, admin, "sites", "sites.csv", SITES_CSV.encode(), dry_run=False)
    assert done.status_code == 200 and done.json()["created"] == ["lake-a", "lake-b"], done.text
    site = (await client.get("/sites/lake-a", headers=admin)).json()
    assert site["org_path"] == "/minghu/lakeside/north" and site["latitude"] == 30.27
    assert {(z["zone"], z["name"]) for z in site["zones"]} == {("prep", "切配区"), ("cooking", "热厨")}
    again = await _upload(client, admin, "sites", "sites.csv", SITES_CSV.encode(), dry_run=False)
    assert again.json()["updated"] == ["lake-a", "lake-b"] and again.json()["created"] == []

    # Users from an Excel sheet: the phone typed into a number cell, Chinese headers.
    book = Workbook()
    sheet = book.active
    sheet.append(["用户名", "姓名", "角色", "所属单位", "场所", "手机", "部门", "区县管理员", "初始密码"])
    sheet.append(
        ["a-manager", "甲食堂 经理", "site_manager", None, "lake-a", 13800138001, "market", "否", None]
    )
    sheet.append(
        ["b-staff", "乙园 厨师", "staff", None, "lake-b;lake-a", "139 0000 0002", None, None, "b-staff-pass"]
    )
    sheet.append(
        ["north-2", "湖北 网格员", "supervisor", "lakeside-north", None, None, "market", "是", "north-2-pass"]
    )
    sheet.append([None] * 9)
    sheet.append(["bad-phone", "x", "staff", None, "lake-a", 12345, None, None, None])
    buf = io.BytesIO()
    book.save(buf)
    xlsx = buf.getvalue()
    refused = await _upload(client, admin, "users", "users.xlsx", xlsx, dry_run=True)
    assert [(e["row"], e["field"]) for e in refused.json()["errors"]] == [(6, "phone")], refused.text
    sheet.delete_rows(6)
    buf = io.BytesIO()
    book.save(buf)
    done = await _upload(client, admin, "users", "users.xlsx", buf.getvalue(), dry_run=False)
    report = done.json()
    assert done.status_code == 200 and report["created"] == ["a-manager", "b-staff", "north-2"], done.text
    assert set(report["initial_passwords"]) == {"a-manager"}  # the others were given one
    users = {u["username"]: u for u in (await client.get("/users", headers=admin)).json()}
    assert users["a-manager"]["phone"] == "+8613800138001"
    assert users["b-staff"]["site_ids"] == ["lake-b", "lake-a"]
    assert users["north-2"]["bureau_admin"] and users["north-2"]["org_path"] == "/minghu/lakeside/north"
    r = await client.post(
        "/auth/login", json={"username": "a-manager", "password": report["initial_passwords"]["a-manager"]}
    )
    assert r.status_code == 200
    entries = (await client.get("/audit", headers=admin)).json()
    assert {"minghu:a-manager", "lake-a"} <= {e["entity_id"] for e in entries}


async def test_rows_from_the_cli_and_bad_files(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    """The JSON route the CLI sends a sheet's rows to, and files that cannot be read at all."""
    rows = [{"id": "r-1", "name": "一号", "kind": "restaurant", "org_id": "hillview"}, {"id": "r-2"}]
    r = await client.post(
        "/import/sites", headers=admin, json={"rows": rows, "first_row": 2, "dry_run": True}
    )
    assert r.status_code == 422
    assert {(e["row"], e["field"]) for e in r.json()["errors"]} == {(3, "name"), (3, "kind"), (3, "org_id")}
    unknown = await _upload(client, admin, "sites", "s.csv", b"id,colour\nx,red\n", dry_run=True)
    assert unknown.status_code == 422 and "colour" in unknown.json()["detail"]["message"]
    pdf = await _upload(client, admin, "sites", "s.pdf", b"%PDF-1.4", dry_run=True)
    assert pdf.status_code == 422 and ".csv or .xlsx" in pdf.json()["detail"]["message"]
    broken = await _upload(client, admin, "users", "u.xlsx", b"PK\x03\x04broken", dry_run=True)
    assert broken.status_code == 422 and "xlsx" in broken.json()["detail"]["message"]
    staff = await login(client, "staff")
    assert (await client.post("/import/sites", headers=staff, json={"rows": rows})).status_code == 403
