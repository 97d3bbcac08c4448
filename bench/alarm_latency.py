"""Alarm latency: the frame that raised an alarm → the delivery request arriving at the phone
providers, on the embedded stack (``brightkitchen up``: simulated cameras, gateway, CPU detector,
case-manager), with faithful fakes of WeChat, Aliyun SMS, WeCom and DingTalk on loopback.

    .venv/bin/python bench/alarm_latency.py [--seconds 240] [--min-cases 30] [-- up options]

The fakes run in this process (``bkcore.testing.notify_providers``); the platform is the real CLI in
a subprocess with the channels configured by environment, as an operator would, pointed at them.
Once it answers, the demo's site manager of 湖滨第一小学食堂 gets a phone and an openid (admin API)
and chooses WeChat and SMS for every class (so Class III alarms are measured too), and the township
supervisor ``north`` joins a DingTalk duty group. For the run, ``BK_NOTIFY_COOLDOWN_S=0`` (no digest:
every alarm is sent) and ``BK_AGGREGATION_WINDOW_S=0`` (every raised violation is a new case), so
each alarm yields a measurement.

Latency of one delivery = the fake's arrival time (``time.time()``) − the case's ``first_seen_at``:
the capture time of the frame whose vote raised the violation (the detector's STARTED event). Only
cases first seen after the phones were set are counted, and only the case's first message
(``case_created``). Printed: per channel and overall, n, p50, p95, max; the fakes' refusals (must be 0).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx

from bkcore.testing.notify_providers import FakeAliyunSms, FakeDingTalk, FakeWeChat, FakeWeCom, serve

KEYWORDS = {"thing1": "site", "thing2": "type", "phrase3": "status", "time4": "time", "thing5": "camera"}
HTTP_TIMEOUT_S = 30.0
MANAGER_PHONE, NORTH_PHONE = "13800138000", "13900139000"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def login(c: httpx.AsyncClient, user: str) -> dict[str, str]:
    r = await c.post("/api/cases/auth/login", json={"username": user, "password": f"demo-{user}"})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def wait_up(c: httpx.AsyncClient, proc: asyncio.subprocess.Process, deadline_s: float) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.returncode is not None:
            raise RuntimeError(f"brightkitchen up exited with {proc.returncode}")
        try:
            await login(c, "admin")
            return
        except httpx.HTTPError:
            await asyncio.sleep(0.5)
    raise RuntimeError("the platform did not answer in time")


async def case_times(
    c: httpx.AsyncClient, auth: dict[str, str], case_id: str, cache: dict
) -> tuple[float, float] | None:  # type: ignore[type-arg]
    """(first_seen_at: the raising frame's capture time, created_at: when the case-manager made the case),
    read from the case list (which hands out no evidence, so it writes no audit entry per call)."""
    if case_id not in cache:
        for offset in range(0, 2000, 200):
            r = await c.get("/api/cases/cases", headers=auth, params={"limit": 200, "offset": offset})
            items = r.json()["items"] if r.status_code == 200 else []
            for item in items:
                seen = datetime.fromisoformat(item["first_seen_at"]).timestamp()
                cache[item["id"]] = (seen, datetime.fromisoformat(item["created_at"]).timestamp())
            if case_id in cache or len(items) < 200:
                break
    return cache.get(case_id)  # type: ignore[no-any-return]


async def run(args: argparse.Namespace) -> int:
    wechat = FakeWeChat(
        app_id="wx-bench", app_secret="wx-secret", template_id="TPL-ALARM", keywords=list(KEYWORDS)
    )
    sms = FakeAliyunSms(
        access_key_id="LTAI-bench-testing",
        access_key_secret="sms-secret",
        sign_name="明厨亮灶",
        template_code="SMS_4711",
        variables=["site", "type", "time"],
    )
    wecom, ding = (
        FakeWeCom(keys=["wecom-key-for-tests"]),
        FakeDingTalk(robots={"ding-token-for-tests": "SEC-bench-testing"}),
    )
    async with serve(wechat.app) as wx, serve(sms.app) as sm, serve(wecom.app) as wc, serve(ding.app) as dt:
        env = {
            **os.environ,
            "BK_WECHAT_APP_ID": "wx-bench",
            "BK_WECHAT_APP_SECRET": "wx-secret",
            "BK_WECHAT_TEMPLATE_ID": "TPL-ALARM",
            "BK_WECHAT_TEMPLATE_KEYWORDS": json.dumps(KEYWORDS),
            "BK_WECHAT_API_BASE": wx,
            "BK_SMS_ACCESS_KEY_ID": "LTAI-bench-testing",
            "BK_SMS_ACCESS_KEY_SECRET": "sms-secret",
            "BK_SMS_SIGN_NAME": "明厨亮灶",
            "BK_SMS_TEMPLATE_CODE": "SMS_4711",
            "BK_SMS_API_BASE": sm,
            "BK_NOTIFY_ROBOTS": json.dumps(
                {
                    "lakeside-duty": {
                        "kind": "dingtalk",
                        "token": "ding-token-for-tests",
                        "secret": "SEC-bench-testing",
                    }
                }
            ),
            "BK_DINGTALK_API_BASE": dt,
            "BK_WECOM_API_BASE": wc,
            "BK_NOTIFY_COOLDOWN_S": "0",
            "BK_AGGREGATION_WINDOW_S": "0",
        }
        port = free_port()
        with tempfile.TemporaryDirectory(prefix="bk-alarm-latency-") as tmp:
            log_path = Path(args.log)
            cmd = [sys.executable, "-m", "brightkitchen.main", "up", "--port", str(port), "--data-dir",
                   str(Path(tmp) / "var"), *args.up_args]  # fmt: skip
            out = log_path.open("wb")  # noqa: ASYNC230 (once, before anything runs)
            proc = await asyncio.create_subprocess_exec(*cmd, stdout=out, stderr=out, env=env)
            out.close()  # the child keeps its own copy
            try:
                base = f"http://127.0.0.1:{port}"
                async with httpx.AsyncClient(base_url=base, timeout=HTTP_TIMEOUT_S) as c:
                    await wait_up(c, proc, args.deadline_s)
                    return await measure(c, args, wechat, sms, ding)
            finally:
                if proc.returncode is None:
                    proc.send_signal(signal.SIGINT)
                    try:
                        await asyncio.wait_for(proc.wait(), 30)
                    except TimeoutError:
                        proc.kill()
                        await proc.wait()


async def measure(
    c: httpx.AsyncClient, args: argparse.Namespace, wechat: FakeWeChat, sms: FakeAliyunSms, ding: FakeDingTalk
) -> int:
    admin = await login(c, "admin")
    for user, values in (
        ("manager", {"phone": MANAGER_PHONE, "wechat_openid": "o-bench-manager-openid-000001"}),
        ("north", {"phone": NORTH_PHONE}),
    ):
        r = await c.patch(f"/api/cases/users/{user}", headers=admin, json=values)
        r.raise_for_status()
    r = await c.put(
        "/api/cases/notifications/preferences",
        headers=await login(c, "manager"),
        json={"channels": {"II": ["wechat", "sms"], "III": ["wechat", "sms"]}},
    )
    r.raise_for_status()
    north = await login(c, "north")
    r = await c.put("/api/cases/notifications/preferences", headers=north, json={"robot": "lakeside-duty"})
    r.raise_for_status()
    ready = time.time()
    print(
        f"phones set at {datetime.fromtimestamp(ready).isoformat(timespec='seconds')}; measuring", flush=True
    )
    city = await login(c, "city")
    manager = await login(c, "manager")
    seen: dict[str, tuple[float, float] | None] = {}
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        await asyncio.sleep(5)
        cases = {
            cid
            for cid in _wechat_cases(wechat)
            if (t := await case_times(c, city, cid, seen)) and t[0] >= ready
        }
        print(f"  {len(cases)} new cases delivered to WeChat so far", flush=True)
        if len(cases) >= args.min_cases:
            break
    await asyncio.sleep(5)  # let the last deliveries land
    inbox = {}
    for offset in range(0, 2000, 200):
        r = await c.get("/api/cases/notifications", headers=manager, params={"limit": 200, "offset": offset})
        items = r.json()["items"]
        inbox.update({m["id"]: m for m in items})
        if len(items) < 200:
            break
    latencies: dict[str, list[tuple[float, float]]] = {"wechat": [], "sms": [], "dingtalk": []}
    for r in wechat.received:
        if r.body["data"]["phrase3"]["value"] == "新告警":
            await _add(latencies["wechat"], r.at, r.body["page"].split("id=", 1)[1], c, city, seen, ready)
    for r in sms.received:
        note = inbox.get(r.body["OutId"])
        if note and note["template"] == "case_created" and r.body["PhoneNumbers"] == MANAGER_PHONE:
            await _add(latencies["sms"], r.at, note["case_id"], c, city, seen, ready)
    for r in ding.received:
        text = r.body["markdown"]["text"]
        if "新告警" in text and "Case " in text:
            await _add(
                latencies["dingtalk"], r.at, text.rsplit("Case ", 1)[1].split()[0], c, city, seen, ready
            )
    print()
    print(f"host: {platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
    print("frame → delivery request (the raising frame's capture time to the provider's receipt):")
    _table(latencies, 0)
    print("case created → delivery request (the notification path alone: outbox, bus, notifier, HTTP):")
    _table(latencies, 1)
    every = [x for xs in latencies.values() for x in xs]
    refused = len(wechat.refused) + len(sms.refused) + len(ding.refused)
    print(f"requests refused by the fakes: {refused}")
    return 0 if every and refused == 0 else 1


def _wechat_cases(wechat: FakeWeChat) -> list[str]:
    return [
        r.body["page"].split("id=", 1)[1]
        for r in wechat.received
        if r.body["data"]["phrase3"]["value"] == "新告警"
    ]


async def _add(out, at, case_id, c, auth, seen, ready) -> None:  # type: ignore[no-untyped-def]
    t = await case_times(c, auth, case_id, seen)
    if t is not None and t[0] >= ready:
        out.append((at - t[0], at - t[1]))


def _table(latencies: dict[str, list[tuple[float, float]]], i: int) -> None:
    print("| channel | alarms | p50 s | p95 s | max s |")
    print("| --- | --- | --- | --- | --- |")
    every = [x[i] for xs in latencies.values() for x in xs]
    for name, xs in [*((k, [x[i] for x in v]) for k, v in latencies.items()), ("all", every)]:
        if xs:
            p50, p95 = statistics.median(xs), percentile(xs, 0.95)
            print(f"| {name} | {len(xs)} | {p50:.2f} | {p95:.2f} | {max(xs):.2f} |")
        else:
            print(f"| {name} | 0 | - | - | - |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=240.0, help="longest measuring time")
    ap.add_argument("--min-cases", type=int, default=30, help="stop once this many new cases reached WeChat")
    ap.add_argument(
        "--deadline-s", type=float, default=180.0, help="give up if the platform is not up by then"
    )
    ap.add_argument("--log", default="/tmp/alarm_latency_up.log", help="the platform's output")
    ap.add_argument("up_args", nargs="*", help="options for brightkitchen up (after --)")
    sys.exit(asyncio.run(run(ap.parse_args())))


if __name__ == "__main__":
    main()
