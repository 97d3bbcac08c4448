"""The red team's hostile inputs against the public API (#17.3, #17.4), each with the refusal it must
get, and the mechanical checks that every input of every route is bounded."""

from __future__ import annotations

import pytest
from public_helpers import invite, parent_login, staff_token

from bk_public.models import metadata
from bkcore.testing.asgi import post_unread
from bkcore.testing.pictures import jpeg
from bkcore.testing.request_bounds import (
    column_lengths,
    unbounded_numbers,
    unbounded_strings,
    unchecked_calendar,
)

MB = 1024 * 1024
# Shares a column's name (invite_codes.code) but is WeChat's one-time login code: never stored.
UNRELATED = {"WxLoginIn.code": "sent to WeChat's code2session, never stored"}


def test_every_input_is_bounded(svc) -> None:  # type: ignore[no-untyped-def]
    assert unbounded_strings(svc.app, column_lengths(metadata), unrelated=UNRELATED) == []
    assert unbounded_numbers(svc.app) == []
    assert unchecked_calendar(svc.app) == []


async def _bound_parent(client, svc) -> dict[str, str]:  # type: ignore[no-untyped-def]
    h = await parent_login(client)
    r = await client.post("/bindings", json={"invite_code": await invite(client, svc)}, headers=h)
    assert r.status_code == 201, r.text
    return h


@pytest.mark.parametrize(
    ("data", "kind", "field"),
    [
        ({"category": "hygiene", "text": "地面\x00积水"}, "invalid_text", "text"),
        ({"category": "hygiene", "text": "x" * 1001}, "string_too_long", "text"),
        ({"category": "hygiene", "text": ""}, "string_too_short", "text"),
        ({"category": "nonsense", "text": "x"}, "enum", "category"),
        ({"text": "x"}, "missing", "category"),
    ],
)
async def test_hostile_complaint_fields_are_422(client, svc, data, kind, field) -> None:  # type: ignore[no-untyped-def]
    h = await _bound_parent(client, svc)
    files = [("photos", ("a.jpg", jpeg(), "image/jpeg"))]
    r = await client.post("/sites/s1/complaints", data=data, files=files, headers=h)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["type"] == kind and r.json()["detail"][0]["loc"] == ["body", field]
    assert await svc.runtime.store.list("minghu/complaints/") == []


async def test_complaint_uploads_are_refused_before_their_body_is_read(client, svc) -> None:  # type: ignore[no-untyped-def]
    h = await _bound_parent(client, svc)
    stranger = await parent_login(client, "stranger-1")  # not bound to s1
    within = 2 * MB  # under the configured cap: only the caller decides
    assert await post_unread(svc.app, "/sites/s1/complaints", declared=within) == (401, 0)
    status, reads = await post_unread(svc.app, "/sites/s1/complaints", declared=within, headers=stranger)
    assert status in (403, 404) and reads == 0
    # 150 MB announced by a bound parent: over the configured cap (6 photos of 5 MB), 413 unread
    assert await post_unread(svc.app, "/sites/s1/complaints", declared=150 * MB, headers=h) == (413, 0)


async def test_a_complaint_streamed_past_its_cap_is_413(client, svc) -> None:  # type: ignore[no-untyped-def]
    h = await _bound_parent(client, svc)
    svc.ctx.settings.max_photo_bytes = 64 * 1024  # a small cap, so the body can pass it in a test
    part = b'--b\r\nContent-Disposition: form-data; name="photos"; filename="a.jpg"\r\n\r\n'
    sent = 0

    async def chunks():  # no Content-Length: only counting the stream can stop it
        nonlocal sent
        yield b'--b\r\nContent-Disposition: form-data; name="category"\r\n\r\nhygiene\r\n' + part
        for _ in range(200):  # 200 x 64 KiB = 12.5 MiB if nobody stopped it
            sent += 1
            yield b"x" * 65536

    headers = {**h, "content-type": "multipart/form-data; boundary=b"}
    r = await client.post("/sites/s1/complaints", content=chunks(), headers=headers)
    assert r.status_code == 413, r.text
    assert sent < 20  # stopped at the cap (6 x 64 KiB + 256 KiB), not at the end of the stream


@pytest.mark.parametrize(
    ("url", "loc"),
    [("/sites/s1/cases?limit=100000000000000000000", ["query", "limit"]), ("/sites/%00", ["path"])],
)
async def test_hostile_queries_are_422(client, svc, url, loc) -> None:  # type: ignore[no-untyped-def]
    h = await _bound_parent(client, svc)
    r = await client.get(url, headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == loc, r.text


async def test_hostile_notices_and_a_30_mb_body(client, svc) -> None:  # type: ignore[no-untyped-def]
    staff = staff_token(svc)
    body = b'{"kind": "notice", "title": "\\ud800", "body": "x"}'
    r = await client.post(
        "/admin/notices", content=body, headers={**staff, "content-type": "application/json"}
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "title"], r.text
    big = b'{"kind": "notice", "title": "t", "body": "' + b"x" * (30 * MB) + b'"}'
    r = await client.post(
        "/admin/notices", content=big, headers={**staff, "content-type": "application/json"}
    )
    assert r.status_code == 413
