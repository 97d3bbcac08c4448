"""#18 done-when: a new tenant from nothing, through the API — units, a site, a camera, users with
phones — and an AI case on that camera reaches the site manager's WeChat and SMS and the township
supervisor's DingTalk duty group with exactly the requests the providers document (their faithful
fakes on loopback check signatures and formats and would refuse anything else)."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from cm_channels import KEYWORDS, channels_platform
from cm_testkit import detection, eventually

from bkcore.clock import FakeClock

pytestmark = pytest.mark.timeout(120)
T, SITE, CAMERA = "riverbend", "rb-east-primary", "rb-cam-1"
SITE_NAME, CAMERA_NAME = "河湾东区第一小学食堂", "热厨 1 号"
OPENID = "oRB_manager_openid_000000001"


def ok(r: httpx.Response, status: int = 200) -> dict:  # type: ignore[type-arg]
    assert r.status_code == status, (r.status_code, r.text)
    return r.json()  # type: ignore[no-any-return]


async def login(api: httpx.AsyncClient, username: str, password: str, tenant: str) -> dict[str, str]:
    r = ok(
        await api.post("/auth/login", json={"username": username, "password": password, "tenant_id": tenant})
    )
    return {"Authorization": f"Bearer {r['access_token']}"}


async def test_new_tenant_alarm_reaches_wechat_sms_and_dingtalk(tmp_path: Path, clock: FakeClock) -> None:
    async with (
        channels_platform(tmp_path, clock, operator_tenant="minghu") as (svc, fakes),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=svc.app), base_url="http://cases") as api,
    ):
        operator = await login(api, "admin", "demo-admin", "minghu")
        tenant = {
            "id": T,
            "name": "河湾市 Riverbend",
            "timezone": "Asia/Shanghai",
            "locale": "zh-CN",
            "admin": {"username": "rb-admin", "name": "河湾平台管理员"},
        }
        created = ok(await api.post("/tenants", headers=operator, json=tenant), 201)
        admin = await login(api, "rb-admin", created["initial_password"], T)
        for unit in (
            {"id": "riverbend", "name": "河湾市市场监管局", "kind": "city"},
            {"id": "rb-east", "name": "东湾区", "kind": "district", "parent_id": "riverbend"},
            {"id": "rb-east-1", "name": "东湾街道", "kind": "township", "parent_id": "rb-east"},
        ):
            ok(await api.post("/org-units", headers=admin, json=unit), 201)
        site = {
            "id": SITE,
            "name": SITE_NAME,
            "kind": "school_canteen",
            "org_id": "rb-east-1",
            "address": "东湾路 1 号",
            "latitude": 31.2,
            "longitude": 121.4,
            "opening_hours": "06:30-19:30",
            "zones": [{"zone": "prep"}, {"zone": "cooking", "name": "热厨"}],
        }
        ok(await api.post("/sites", headers=admin, json=site), 201)
        ok(
            await api.put(
                f"/sites/{SITE}/cameras/{CAMERA}",
                headers=admin,
                json={"zone": "cooking", "name": CAMERA_NAME},
            )
        )
        ok(
            await api.post(
                "/users",
                headers=admin,
                json={
                    "username": "rb-manager",
                    "name": "食堂负责人 钱师傅",
                    "role": "site_manager",
                    "site_ids": [SITE],
                    "phone": "138 0013 8000",
                    "wechat_openid": OPENID,
                    "password": "manager-pass-1",
                },
            ),
            201,
        )
        ok(
            await api.post(
                "/users",
                headers=admin,
                json={
                    "username": "rb-grid",
                    "name": "东湾街道网格员 孙敏",
                    "role": "supervisor",
                    "org_id": "rb-east-1",
                    "phone": "+86 139-0013-9000",
                    "password": "grid-pass-12",
                },
            ),
            201,
        )
        grid = await login(api, "rb-grid", "grid-pass-12", T)  # joins the duty group's DingTalk robot
        ok(await api.put("/notifications/preferences", headers=grid, json={"robot": "lakeside-duty"}))

        # The detector raises a rodent (Class I) on the new camera.
        seen = detection(clock, "rodent", site=SITE, camera=CAMERA, tenant=T)
        await svc.ctx.runtime.bus.publish("detections.v1", seen)

        def created_only(received, status="新告警"):  # type: ignore[no-untyped-def]
            return [r.body for r in received if status in str(r.body)]

        async def all_reached() -> bool:
            return bool(
                created_only(fakes.wechat.received)
                and [r for r in fakes.sms.received if r.body["PhoneNumbers"] == "13800138000"]
                and created_only(fakes.ding.received)
            )

        await eventually(all_reached, timeout_s=30)
        assert fakes.wechat.refused == [] and fakes.sms.refused == [] and fakes.ding.refused == []
        cases = ok(await api.get("/cases", headers=admin))["items"]
        [case] = [c for c in cases if c["camera_id"] == CAMERA]
        when = (
            seen.started_at.ToDatetime().replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo("Asia/Shanghai"))
        )
        local = f"{when.year}年{when.month}月{when.day}日 {when:%H:%M}"
        [wx] = created_only(fakes.wechat.received)
        assert wx == {
            "touser": OPENID,
            "template_id": "TPL-ALARM",
            "page": f"pages/cases/detail?id={case['id']}",
            "miniprogram_state": "formal",
            "lang": "zh_CN",
            "data": {
                "thing1": {"value": SITE_NAME},
                "thing2": {"value": "鼠患"},
                "phrase3": {"value": "新告警"},
                "time4": {"value": local},
                "thing5": {"value": CAMERA_NAME},
            },
        }
        assert set(wx["data"]) == set(KEYWORDS)
        # SMS: the template's variables only (no status word); created and dispatched read the same.
        [sms] = [r for r in fakes.sms.received if r.body["PhoneNumbers"] == "13800138000"][:1]
        params = sms.body
        assert (
            params["Action"] == "SendSms"
            and params["SignName"] == "明厨亮灶"
            and params["TemplateCode"] == "SMS_4711"
        )
        assert params["TemplateParam"] == {"site": SITE_NAME, "type": "鼠患", "time": local}
        [ding] = created_only(fakes.ding.received)[:1]
        assert ding["msgtype"] == "markdown" and ding["at"] == {
            "atMobiles": ["13900139000"],
            "isAtAll": False,
        }
        assert ding["markdown"]["title"] == f"【一级新告警】{SITE_NAME} 鼠患"
        assert CAMERA_NAME in ding["markdown"]["text"] and f"Case {case['id']}" in ding["markdown"]["text"]
