"""What schemathesis found at the shared door, written as the requests it sent (no I/O beyond an
in-process app): a day or an instant sent as a number, and a query parameter sent twice, were
accepted (``start=0`` meant 1970-01-01; ``?site_id=a&site_id=b`` silently kept ``b``)."""

from __future__ import annotations

from datetime import date

import httpx
import pytest
from pydantic import TypeAdapter, ValidationError

from bkcore.http import create_app
from bkcore.inputs import AwareInstant, Day, Instant
from bkcore.text_guard import target_problem


@pytest.mark.parametrize("kind", [Day, Instant, AwareInstant])
@pytest.mark.parametrize("value", ["0", 0, 1700000000, "1700000000", False, 3.5])
def test_calendar_values_sent_as_numbers_are_refused(kind: object, value: object) -> None:
    with pytest.raises(ValidationError, match="not as a number"):
        TypeAdapter(kind).validate_python(value)


def test_calendar_values_in_iso_form_still_pass() -> None:
    assert TypeAdapter(Day).validate_python("2026-09-01") == date(2026, 9, 1)
    assert TypeAdapter(Day).validate_python(date(2026, 9, 1)) == date(2026, 9, 1)
    assert TypeAdapter(AwareInstant).validate_python("2026-09-01T08:00:00+08:00").utcoffset() is not None


def test_a_query_parameter_given_twice_is_refused_by_name() -> None:
    assert target_problem(b"/v1/staff", b"site_id=a&site_id=b") == (
        "repeated_parameter",
        ("query", "site_id"),
        "given more than once; a parameter takes one value",
    )
    assert target_problem(b"/v1/staff", b"site_id=a&limit=3") is None
    assert target_problem(b"/v1/staff", b"site%5Fid=a&site_id=b") is not None  # escaped, still the same


async def test_the_requests_schemathesis_sent_get_422s() -> None:
    app = create_app(service="t", title="t")

    @app.get("/since")
    async def since(start: Day | None = None, site_id: str | None = None) -> dict[str, str | None]:
        return {"start": start.isoformat() if start else None, "site_id": site_id}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        assert (await c.get("/since?start=0")).status_code == 422
        r = await c.get("/since?site_id=a&site_id=b")
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "site_id"]
        assert (await c.get("/since?start=2026-09-01&site_id=a")).json() == {
            "start": "2026-09-01",
            "site_id": "a",
        }


async def test_a_routes_own_422_has_the_documented_shape() -> None:
    """Found by schemathesis: ``HTTPException(422, "text")`` answered ``{"detail": "text"}`` where every
    422 documents a list of ``{type, loc, msg}`` (a rectification without photos, an unknown robot)."""
    from fastapi import HTTPException

    app = create_app(service="t", title="t")

    @app.post("/bare")
    async def bare() -> None:
        raise HTTPException(422, "整改须至少上传一张照片 · a rectification needs at least one photo")

    @app.post("/untyped")
    async def untyped() -> None:
        raise HTTPException(422, [{"loc": ["body", "labels"], "msg": "unknown label"}])

    @app.post("/other")
    async def other() -> None:
        raise HTTPException(409, "already closed", headers={"X-State": "closed"})

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        r = await c.post("/bare")
        assert r.status_code == 422 and r.json()["detail"] == [
            {
                "type": "value_error",
                "loc": ["body"],
                "msg": "整改须至少上传一张照片 · a rectification needs at least one photo",
            }
        ]
        r = await c.post("/untyped")
        assert r.json()["detail"] == [
            {"type": "value_error", "loc": ["body", "labels"], "msg": "unknown label"}
        ]
        r = await c.post("/other")  # other statuses as before
        assert (r.status_code, r.json(), r.headers["x-state"]) == (
            409,
            {"detail": "already closed"},
            "closed",
        )
