"""The red team's hostile inputs against the case-manager (#17.3, #17.4), each with the refusal it
must get, and the mechanical checks that every input of every route is bounded."""

from __future__ import annotations

import httpx
import pytest
from cm_testkit import detection, eventually, login

from bk_cases.db import Base
from bk_cases.service import CaseService
from bkcore.clock import FakeClock
from bkcore.testing.asgi import post_unread
from bkcore.testing.request_bounds import (
    column_lengths,
    unbounded_numbers,
    unbounded_strings,
    unchecked_calendar,
)

MB = 1024 * 1024


def test_every_body_string_is_bounded_by_its_column(service: CaseService) -> None:
    assert unbounded_strings(service.app, column_lengths(Base.metadata)) == []


def test_every_number_is_bounded_and_every_date_in_the_window(service: CaseService) -> None:
    assert unbounded_numbers(service.app) == []
    assert unchecked_calendar(service.app) == []


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        (b'{"username": "\\ud800", "password": "x"}', ["body", "username"]),  # a lone surrogate
        (b'{"username": "manager\\u0000", "password": "x"}', ["body", "username"]),
        (b'{"username": "' + b"m" * 101 + b'", "password": "x"}', ["body", "username"]),
        (b'{"username": "manager", "password": "' + b"p" * 257 + b'"}', ["body", "password"]),
    ],
)
async def test_hostile_login_names_are_422(client: httpx.AsyncClient, body: bytes, loc: list[str]) -> None:
    r = await client.post("/auth/login", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == loc


async def test_a_30_mb_login_body_is_413(client: httpx.AsyncClient) -> None:
    body = b'{"username": "manager", "password": "' + b"p" * (30 * MB) + b'"}'
    r = await client.post("/auth/login", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 413


@pytest.mark.parametrize(
    ("url", "loc"),
    [
        ("/cases?offset=100000000000000000000", ["query", "offset"]),
        ("/cases?offset=1e20", ["query", "offset"]),
        ("/cases?limit=100000", ["query", "limit"]),
        ("/cases?since=0001-01-01T00:00:00%2B05:00", ["query", "since"]),
        ("/cases?until=9999-12-31T23:59:59-05:00", ["query", "until"]),
        ("/cases?site_id=%00", ["query", "site_id"]),
        ("/cases/%00", ["path"]),
        ("/notifications?offset=100000000000000000000", ["query", "offset"]),
        ("/stats/summary?since=9999-12-31T23:59:59-05:00", ["query", "since"]),
        ("/stats/risk-scores?month=9999-12", ["query", "month"]),
        ("/stats/red-black-list?month=0001-01", ["query", "month"]),
        ("/stats/risk-scores?month=2026-13", ["query", "month"]),
    ],
)
async def test_hostile_queries_are_422_naming_the_parameter(
    client: httpx.AsyncClient, url: str, loc: list[str]
) -> None:
    sup = await login(client, "north")
    r = await client.get(url, headers=sup)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == loc


async def test_the_window_edges_still_answer(client: httpx.AsyncClient) -> None:
    sup = await login(client, "north")
    r = await client.get("/stats/risk-scores?month=2199-12", headers=sup)
    assert r.status_code == 200, r.text
    r = await client.get("/cases?since=1900-01-01T00:00:00%2B14:00&offset=100000", headers=sup)
    assert r.status_code == 200 and r.json()["items"] == []


async def _acknowledged_case(client: httpx.AsyncClient, service: CaseService, clock: FakeClock) -> str:
    await service.ctx.runtime.bus.publish("detections.v1", detection(clock, "no_mask"))
    sup, mgr = await login(client, "north"), await login(client, "manager")

    async def found():  # type: ignore[no-untyped-def]
        page = (await client.get("/cases", headers=sup)).json()
        return page["items"][0]["id"] if page["total"] else None

    cid = await eventually(found)
    assert (await client.post(f"/cases/{cid}/dispatch", headers=sup)).status_code == 200
    assert (await client.post(f"/cases/{cid}/acknowledge", headers=mgr)).status_code == 200
    return str(cid)


async def _post_unsent_upload(app, path: str, token: str, declared: int) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    headers = {"authorization": token} if token else {}
    return await post_unread(app, path, declared=declared, headers=headers)


async def test_an_upload_to_a_case_that_does_not_exist_is_refused_before_its_body_is_read(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    mgr = (await login(client, "manager"))["Authorization"]
    status, reads = await _post_unsent_upload(service.app, "/cases/no-such-case/rectifications", mgr, 50 * MB)
    assert (status, reads) == (404, 0)
    # a case of another site: the same answer, the same nothing read
    cid = await _acknowledged_case(client, service, clock)
    other = (await login(client, "noodleboss"))["Authorization"]  # manages hillview-noodle only
    assert await _post_unsent_upload(service.app, f"/cases/{cid}/rectifications", other, 50 * MB) == (404, 0)
    # nobody at all: 401 before anything is read
    assert await _post_unsent_upload(service.app, f"/cases/{cid}/rectifications", "", 50 * MB) == (401, 0)


async def test_a_150_mb_upload_to_a_real_case_is_413_without_reading_it(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    cid = await _acknowledged_case(client, service, clock)
    mgr = (await login(client, "manager"))["Authorization"]
    assert await _post_unsent_upload(service.app, f"/cases/{cid}/rectifications", mgr, 150 * MB) == (413, 0)


async def test_a_rectification_note_is_bounded_and_clean(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    cid = await _acknowledged_case(client, service, clock)
    mgr = await login(client, "manager")
    for note, kind in (("n" * 2001, "string_too_long"), ("a\x00b", "invalid_text")):
        r = await client.post(f"/cases/{cid}/rectifications", headers=mgr, data={"note": note})
        assert r.status_code == 422 and r.json()["detail"][0]["type"] == kind, r.text
    assert (await client.get(f"/cases/{cid}", headers=mgr)).json()["status"] == "acknowledged"
