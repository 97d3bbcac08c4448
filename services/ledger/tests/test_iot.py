"""Sensors: device auth, batches with out-of-order, duplicate and garbage readings; alarms; history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

START = datetime(2026, 9, 1, 0, 0, tzinfo=UTC)  # the harness clock's start

T0 = START.timestamp()


async def sensor(h):  # type: ignore[no-untyped-def]
    r = await h.client.post(
        "/v1/iot/sensors",
        headers=h.auth(),
        json={"site_id": "lakeside-primary", "name": "冷藏冰箱 1", "kind": "fridge"},
    )
    assert r.status_code == 201, r.text
    return r.json()["id"], {"X-Device-Token": r.json()["device_token"]}


async def test_ingest_messy_batches_and_window_alarm(h) -> None:  # type: ignore[no-untyped-def]
    sid, tok = await sensor(h)
    url = f"/v1/iot/sensors/{sid}/readings"
    assert (await h.client.post(url, json={"readings": [{"ts": T0, "value": 4}]})).status_code == 401
    assert (
        await h.client.post(
            url, json={"readings": [{"ts": T0, "value": 4}]}, headers={"X-Device-Token": "wrong"}
        )
    ).status_code == 401
    assert (await h.client.post(url, json={"readings": []}, headers=tok)).status_code == 422
    assert (await h.client.post(url, json={"nope": 1}, headers=tok)).status_code == 422
    h.clock.set(START + timedelta(hours=1))
    # minute 20..40 warm, sent out of order, with duplicates and garbage
    warm = [{"ts": T0 + m * 60, "value": 9.0} for m in range(20, 41, 5)]
    batch = [
        *warm[::-1],
        warm[0],
        {"ts": "garbage", "value": 1},
        {"ts": T0, "value": "hot"},
        None,
        {"ts": T0 + 7200, "value": 5},
    ]
    r = await h.client.post(url, json={"readings": batch}, headers=tok)
    assert r.status_code == 200 and r.json()["accepted"] == 5
    assert [x["index"] for x in r.json()["rejected"]] == [6, 7, 8, 9]
    await h.flush()
    assert "sensor_out_of_range" not in h.rules_seen()  # only 20 min so far
    late = [{"ts": T0 + m * 60, "value": 9.0} for m in (10, 15)]  # late readings extend the streak back
    await h.client.post(url, json={"readings": late}, headers=tok)
    await h.client.post(url, json={"readings": late}, headers=tok)  # resend: idempotent, no second alarm
    await h.flush()
    assert [d.event.active for d in h.alerts if d.event.rule == "sensor_out_of_range"] == [True]
    await h.client.post(url, json={"readings": [{"ts": T0 + 45 * 60, "value": 5.0}]}, headers=tok)
    await h.flush()
    assert [d.event.active for d in h.alerts if d.event.rule == "sensor_out_of_range"] == [True, False]
    hist = await h.client.get(
        f"/v1/iot/sensors/{sid}/history",
        headers=h.auth(),
        params={"start": START.isoformat(), "end": (START + timedelta(hours=1)).isoformat(), "bucket_s": 900},
    )
    points = hist.json()["points"]
    assert [p["n"] for p in points] == [1, 3, 3, 1] and points[-1]["min"] == 5.0
    assert (
        await h.client.get(
            f"/v1/iot/sensors/{sid}/history",
            headers=h.auth(),
            params={"start": START.isoformat(), "end": START.isoformat()},
        )
    ).status_code == 422


async def test_silence_alarm_deduplicated(h) -> None:  # type: ignore[no-untyped-def]
    sid, tok = await sensor(h)
    h.clock.advance(timedelta(minutes=15))
    await h.service.sweep()
    await h.flush()
    assert "sensor_silent" not in h.rules_seen()
    h.clock.advance(timedelta(minutes=1))
    await h.service.sweep()
    await h.service.sweep()
    await h.flush()
    assert h.rules_seen().count("sensor_silent") == 1
    await h.client.post(
        f"/v1/iot/sensors/{sid}/readings",
        headers=tok,
        json={"readings": [{"ts": h.clock.now().timestamp(), "value": 4}]},
    )
    await h.flush()
    assert [d.event.active for d in h.alerts if d.event.rule == "sensor_silent"] == [True, False]
