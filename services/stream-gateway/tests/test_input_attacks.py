"""The red team's hostile inputs against the gateway (#17.3, #17.4), each with the refusal it must
get, and the mechanical checks that every input of every route is bounded."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_helpers import runtime, settings, token

from bk_gateway.models import metadata
from bk_gateway.service import GatewayService, create_service
from bkcore.testing.request_bounds import (
    column_lengths,
    unbounded_numbers,
    unbounded_strings,
    unchecked_calendar,
)


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[tuple[GatewayService, httpx.AsyncClient, dict[str, str]]]:
    rt = runtime(settings(tmp_path))
    svc = create_service(rt)
    await rt.bus.start()
    await svc.start()
    try:
        transport = httpx.ASGITransport(app=svc.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            yield svc, client, token(rt)
    finally:
        await svc.stop()
        await rt.bus.stop()


def camera(**over: Any) -> bytes:
    body = {
        "id": "c1",
        "site_id": "s1",
        "zone": "cooking",
        "source_url": "sim:cooking",
        "enabled": False,
        **over,
    }
    return json.dumps(body).encode()


def test_every_input_is_bounded(gw) -> None:  # type: ignore[no-untyped-def]
    app = gw[0].app
    assert unbounded_strings(app, column_lengths(metadata)) == []
    assert unbounded_numbers(app) == []
    assert unchecked_calendar(app) == []


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        (camera(name="\ud800"), ["body", "name"]),  # a lone surrogate as the camera's name
        (camera(name="kitchen\u0000"), ["body", "name"]),
        (camera(name="n" * 201), ["body", "name"]),
        (camera(source_url="sim:" + "c" * 2000), ["body", "source_url"]),
        (camera(username="u" * 201), ["body", "username"]),
        (camera(password="p" * 257), ["body", "password"]),
        (camera(sample_fps=float("nan")), ["body"]),
    ],
)
async def test_hostile_camera_fields_are_422(gw, body: bytes, loc: list[str]) -> None:  # type: ignore[no-untyped-def]
    _, client, admin = gw
    r = await client.put(
        "/v1/cameras/c1", content=body, headers={**admin, "content-type": "application/json"}
    )
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == loc
    assert (await client.get("/v1/cameras", headers=admin)).json() == []


@pytest.mark.parametrize(
    ("url", "loc"),
    [
        ("/v1/cameras/%00", ["path"]),
        ("/v1/cameras/%ED%A0%80/status", ["path"]),
        ("/v1/cameras?tenant_id=%00", ["query", "tenant_id"]),
    ],
)
async def test_hostile_paths_and_queries_are_422(gw, url: str, loc: list[str]) -> None:  # type: ignore[no-untyped-def]
    _, client, admin = gw
    r = await client.get(url, headers=admin)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == loc, r.text


async def test_a_30_mb_camera_is_413(gw) -> None:  # type: ignore[no-untyped-def]
    _, client, admin = gw
    body = camera(profile={"padding": "x" * (30 * 1024 * 1024)})
    r = await client.put(
        "/v1/cameras/c1", content=body, headers={**admin, "content-type": "application/json"}
    )
    assert r.status_code == 413
