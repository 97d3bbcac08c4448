"""``brightkitchen admin …`` as an operator runs it (a subprocess) against a case-manager serving HTTP
on loopback: a tenant from nothing, then bulk imports whose dry run lists every row's error and
writes nothing, a real import with its progress bar and passwords file, and deactivation."""

from __future__ import annotations

import asyncio
import io
import json
import os
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from openpyxl import Workbook

from bk_cases.service import create_service
from bk_cases.settings import CaseSettings
from bkcore.bus.inproc import InProcessBus
from bkcore.objstore.local import LocalObjectStore
from bkcore.service import Runtime
from bkcore.testing.tokens import new_token_issuer
from brightkitchen import demo_data
from brightkitchen.platform import free_port

pytestmark = [pytest.mark.timeout(300)]
SECRET = "test-secret-0123456789abcdef-0123456789"


@pytest.fixture
async def cases_url(tmp_path: Path) -> AsyncIterator[str]:
    settings = CaseSettings(
        data_dir=tmp_path, jwt_secret=SECRET, url_signing_secret=SECRET, operator_tenant=demo_data.TENANT_ID
    )
    runtime = Runtime(
        settings=settings,
        bus=InProcessBus(None),
        store=LocalObjectStore(tmp_path / "objects", SECRET, "http://test/objects"),
        tokens=new_token_issuer(),
    )
    svc = create_service(runtime, settings)
    await svc.start()
    await runtime.bus.start()
    await svc.seed_demo(demo_data)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(svc.app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers a flag, not an event)
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        await runtime.bus.stop()
        await svc.stop()


async def admin(url: str, user: str, password: str, tenant: str, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BK_")} | {
        "BK_ADMIN_URL": url,
        "BK_ADMIN_USERNAME": user,
        "BK_ADMIN_PASSWORD": password,
        "BK_ADMIN_TENANT": tenant,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "brightkitchen.main", "admin", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


BAD_SITES = """编号,名称,类型,所属单位,纬度,经度,营业时间,功能区
rb-ok,好食堂,restaurant,rb-east,31.2,121.4,10:00-22:00,cooking
rb bad,坏编号,restaurant,rb-east,,,,
rb-kind,类型错,disco,rb-east,,,,
rb-hours,时间错,restaurant,rb-east,,,25:00-26:00,
rb-unit,单位错,restaurant,nowhere,,,,
"""


async def test_a_tenant_from_nothing_with_the_cli(cases_url: str, tmp_path: Path) -> None:
    rc, out, err = await admin(
        cases_url, "admin", "demo-admin", "minghu",
        "tenant", "create", "riverbend", "--name", "河湾市",
        "--admin-username", "rb-admin", "--admin-name", "河湾管理员",
    )  # fmt: skip
    assert rc == 0, err
    password = json.loads(out)["initial_password"]

    async def rb(*args: str) -> tuple[int, str, str]:
        return await admin(cases_url, "rb-admin", password, "riverbend", *args)

    for args in (
        ("unit", "add", "riverbend", "--name", "河湾市局", "--kind", "city"),
        ("unit", "add", "rb-east", "--name", "东湾区", "--kind", "district", "--parent", "riverbend"),
        ("site", "add", "rb-school", "--name", "东湾小学食堂", "--kind", "school_canteen",
         "--unit", "rb-east", "--lat", "31.2", "--lon", "121.4", "--hours", "06:30-19:30",
         "--zones", "prep,cooking"),
        ("camera", "bind", "rb-school", "rb-cam-1", "--zone", "cooking", "--name", "热厨"),
        ("user", "add", "rb-chief", "--name", "赵科长", "--role", "supervisor", "--unit", "rb-east",
         "--phone", "139 0000 0001", "--bureau-admin"),
    ):  # fmt: skip
        rc, out, err = await rb(*args)
        assert rc == 0, (args, err)
    # A refused command says why, naming the field, and exits non-zero.
    rc, out, err = await rb(
        "site", "add", "rb-x", "--name", "x", "--kind", "restaurant", "--unit", "rb-east", "--hours", "7-9"
    )
    assert rc == 1 and "opening_hours" in err and "HH:MM-HH:MM" in err

    # The dry run lists every bad row (row number in the file, column) and writes nothing.
    bad = tmp_path / "sites.csv"
    bad.write_bytes(BAD_SITES.encode("gb18030"))
    for extra in (["--dry-run"], []):  # without --dry-run the same rows stop it before any write
        rc, out, err = await rb("import", "sites", str(bad), *extra)
        assert rc == 1, err
        for row, column in ((3, "id"), (4, "kind"), (5, "opening_hours"), (6, "org_id")):
            assert f"row {row}  {column}:" in err, (row, column, err)
        assert "4 errors in 5 rows; nothing written" in err
    rc, out, _ = await rb("site", "list")
    assert "rb-ok" not in out and "rb-school" in out

    # A clean Excel sheet of users: checked, then written with a progress bar; passwords to a 0600 file.
    book = Workbook()
    sheet = book.active
    sheet.append(["用户名", "姓名", "角色", "场所", "手机", "微信openid"])
    for i in range(1, 151):
        sheet.append([f"cook-{i:03d}", f"厨师 {i}", "staff", "rb-school", 13900000000 + i, None])
    buf = io.BytesIO()
    book.save(buf)
    users = tmp_path / "users.xlsx"
    users.write_bytes(buf.getvalue())
    passwords = tmp_path / "passwords.csv"
    rc, out, err = await rb("import", "users", str(users), "--dry-run")
    assert rc == 0 and "checked 150 rows: 150 new, 0 to update" in out, err
    assert not passwords.exists()
    rc, out, err = await rb("import", "users", str(users), "--passwords-out", str(passwords))
    assert rc == 0, err
    assert "150/150" in err  # tqdm's bar on stderr
    assert "done: 150 created, 0 updated" in out
    assert stat.S_IMODE(passwords.stat().st_mode) == 0o600
    lines = passwords.read_text().splitlines()
    assert lines[0] == "username,password" and len(lines) == 151
    user, pw = lines[1].split(",")
    async with httpx.AsyncClient(base_url=cases_url) as http:
        r = await http.post("/auth/login", json={"username": user, "password": pw, "tenant_id": "riverbend"})
        assert r.status_code == 200, r.text
    rc, out, err = await rb("user", "list")
    assert "+8613900000150" in out and "+8613900000001" in out

    # Deactivation: the user can no longer log in.
    rc, out, err = await rb("user", "deactivate", "cook-001")
    assert rc == 0, err
    async with httpx.AsyncClient(base_url=cases_url) as http:
        r = await http.post(
            "/auth/login", json={"username": "cook-001", "password": pw, "tenant_id": "riverbend"}
        )
        assert r.status_code == 401
    # A second run updates instead of duplicating.
    rc, out, err = await rb("import", "users", str(users))
    assert rc == 0 and "done: 0 created, 150 updated" in out, err


async def test_a_users_phone_channels_with_the_cli(cases_url: str) -> None:
    """``user channels`` (and ``user add --class-ii …``) set what the notifications read per risk class."""

    async def op(*args: str) -> tuple[int, str, str]:
        return await admin(cases_url, "admin", "demo-admin", demo_data.TENANT_ID, *args)

    rc, out, err = await op("user", "channels", "manager", "--class-ii", "sms,wechat", "--class-iii", "")
    assert rc == 0, err
    shown = json.loads(out)
    assert shown["notify_channels"] == {"II": ["wechat", "sms"], "III": []}
    rc, out, err = await op("user", "channels", "manager", "--class-ii", "fax")
    assert rc == 1 and "fax" in err
    rc, out, err = await op("user", "channels", "manager", "--robot", "nowhere")
    assert rc == 1 and "nowhere" in err and "BK_NOTIFY_ROBOTS" in err  # none configured here
    rc, out, err = await op("user", "channels", "manager")
    assert rc == 1 and "nothing to change" in err

    rc, out, err = await op(
        "user", "add", "night-sup", "--name", "夜班监管员", "--role", "supervisor",
        "--unit", "lakeside", "--class-ii", "wechat", "--class-iii", "robot",
    )  # fmt: skip
    assert rc == 0, err
    assert json.loads(out)["notify_channels"] == {"II": ["wechat"], "III": ["robot"]}
    # The person reads their admin's choice as their own.
    async with httpx.AsyncClient(base_url=cases_url) as http:
        r = await http.post(
            "/auth/login",
            json={"username": "manager", "password": "demo-manager", "tenant_id": demo_data.TENANT_ID},
        )
        token = r.json()["access_token"]
        prefs = await http.get("/notifications/preferences", headers={"Authorization": f"Bearer {token}"})
    assert prefs.json()["channels"] == {"II": ["wechat", "sms"], "III": []}
