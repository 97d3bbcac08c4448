"""The red team's hostile inputs against the ledger (#17.3, #17.4), each with the refusal it must
get, and the mechanical checks that every input of every route is bounded."""

from __future__ import annotations

import json

import pytest

from bk_ledger.db import metadata
from bk_ledger.purchase.models import PurchaseIn, SupplierIn
from bkcore.auth import Role
from bkcore.testing.asgi import post_unread
from bkcore.testing.request_bounds import (
    column_lengths,
    unbounded_numbers,
    unbounded_strings,
    unchecked_calendar,
)

MB = 1024 * 1024
# The supplier and purchase routes take their record as a JSON ``payload`` form field.
PAYLOAD_MODELS = (SupplierIn, PurchaseIn)


def morning_check(**over: object) -> bytes:
    body = {
        "site_id": "lakeside-primary", "staff_id": "s1", "staff_name": "陈强",
        "checked_at": "2026-09-01T06:00:00+08:00", "temperature_c": 36.5,
        "hands_ok": True, "dress_ok": True, "checker": "张芳", **over,
    }  # fmt: skip
    return json.dumps(body).encode()


def test_every_body_string_is_bounded_by_its_column(h) -> None:  # type: ignore[no-untyped-def]
    assert unbounded_strings(h.service.app, column_lengths(metadata), PAYLOAD_MODELS) == []


def test_every_number_is_bounded_and_every_date_in_the_window(h) -> None:  # type: ignore[no-untyped-def]
    assert unbounded_numbers(h.service.app, PAYLOAD_MODELS) == []
    assert unchecked_calendar(h.service.app, PAYLOAD_MODELS) == []


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        (morning_check(checked_at="0001-01-01T00:00:00+05:00"), ["body", "checked_at"]),
        (morning_check(checked_at="9999-12-31T23:59:59-05:00"), ["body", "checked_at"]),
        (morning_check(staff_name="\ud800"), ["body", "staff_name"]),  # json.dumps escapes it: \ud800
        (morning_check(staff_id="s" * 65), ["body", "staff_id"]),
        (morning_check(site_id="lakeside\x00primary"), ["body", "site_id"]),
        (morning_check().replace(b"36.5", b"NaN"), ["body"]),
        (morning_check().replace(b"36.5", b"1e999"), ["body"]),
    ],
)
async def test_hostile_ledger_entries_are_422(h, body: bytes, loc: list[str]) -> None:  # type: ignore[no-untyped-def]
    r = await h.client.post(
        "/v1/morning-checks", content=body, headers={**h.auth(), "content-type": "application/json"}
    )
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == loc
    assert (await h.client.get("/v1/morning-checks", headers=h.auth())).json() == []


@pytest.mark.parametrize(
    ("url", "loc"),
    [
        ("/v1/morning-checks?offset=100000000000000000000", ["query", "offset"]),
        ("/v1/purchases?offset=1e20", ["query", "offset"]),
        ("/v1/samples?start=0001-01-01", ["query", "start"]),
        ("/v1/staff?end=9999-12-31", ["query", "end"]),
        ("/v1/suppliers?site_id=%00", ["query", "site_id"]),
        ("/v1/suppliers/%00", ["path"]),
        ("/v1/completeness/lakeside-primary?start=9999-12-31", ["query", "start"]),
        ("/v1/exports/samples.csv?start=0001-01-01", ["query", "start"]),
        (
            "/v1/iot/sensors/x/history?start=0001-01-01T00:00:00%2B05:00&end=2026-01-01T00:00Z",
            ["query", "start"],
        ),
    ],
)
async def test_hostile_queries_are_422_naming_the_parameter(h, url: str, loc: list[str]) -> None:  # type: ignore[no-untyped-def]
    r = await h.client.get(url, headers=h.auth(Role.PLATFORM_ADMIN))
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == loc


async def test_the_public_summary_refuses_a_day_outside_the_window(h) -> None:  # type: ignore[no-untyped-def]
    r = await h.client.get(
        "/v1/public/sites/lakeside-primary/summary?day=0001-01-01", headers=h.auth(Role.SERVICE)
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "day"]


async def test_a_json_payload_form_field_is_held_to_the_json_body_rules(h) -> None:  # type: ignore[no-untyped-def]
    sup = {"site_id": "lakeside-primary", "name": "a\u0000b", "address": "x", "contact": "x",
           "phone": "0571-88886666", "business_licence_no": "91350100M000100Y43",
           "food_licence_no": "JY13301000001", "food_licence_expires": "2027-12-31"}  # fmt: skip
    files = [("licences", ("l.png", b"\x89PNG", "image/png"))]
    r = await h.client.post("/v1/suppliers", headers=h.auth(), data={"payload": json.dumps(sup)}, files=files)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "payload", "name"], r.text
    r = await h.client.post(
        "/v1/suppliers", headers=h.auth(), data={"payload": json.dumps({**sup, "name": "ok"}) + " " * 20_000}
    )
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "string_too_long", r.text
    r = await h.client.post("/v1/suppliers", headers=h.auth(), files=files)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "payload"], r.text


async def test_uploads_are_refused_before_their_body_is_read(h) -> None:  # type: ignore[no-untyped-def]
    app = h.service.app
    within = 2 * h.service.settings.max_photo_bytes  # under the route's cap: only the caller decides
    # nobody: 401 without reading; a reader that may not write: 403 without reading
    assert await post_unread(app, "/v1/suppliers", declared=within) == (401, 0)
    supervisor = h.auth(Role.SUPERVISOR)
    assert await post_unread(app, "/v1/purchases", declared=within, headers=supervisor) == (403, 0)
    # a writer announcing more than the route's cap (its photos' worth): 413 without reading
    assert await post_unread(app, "/v1/suppliers", declared=150 * MB, headers=h.auth()) == (413, 0)


async def test_a_30_mb_json_body_is_413(h) -> None:  # type: ignore[no-untyped-def]
    body = morning_check(checker="c" * (30 * MB))
    r = await h.client.post(
        "/v1/morning-checks", content=body, headers={**h.auth(), "content-type": "application/json"}
    )
    assert r.status_code == 413
