"""Signed object URLs accept only the canonical expiry: the attacks are the same link spelt anew."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from bkcore.objstore.http import object_router
from bkcore.objstore.local import LocalObjectStore
from bkcore.signed_urls import MAX_EXPIRY, parse_expiry

NOW = 1_700_000_000.0
SECRET = "k" + "9f3a7c1e5b2d8" * 4


def test_parse_expiry_canonical_only() -> None:
    assert parse_expiry("1700000600") == 1_700_000_600
    assert parse_expiry(1_700_000_600) == 1_700_000_600
    for bad in (
        "+1700000600",
        "01700000600",
        "1.7e9",
        " 1700000600",
        "1700000600 ",
        "1_700_000_600",
        "-1",
        "0",
        "",
        "１７００",
        "0x65",
        str(MAX_EXPIRY + 1),
        "9" * 13,
        None,
        1.7e9,
        True,
    ):
        assert parse_expiry(bad) is None, bad


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, str, str]]:
    store = LocalObjectStore(tmp_path, SECRET, "http://t", clock=lambda: NOW)
    await store.put("t1/cam/a.jpg", b"jpeg-bytes", "image/jpeg")
    url = urlsplit(await store.signed_url("t1/cam/a.jpg", 600))
    q = parse_qs(url.query)
    app = FastAPI()
    app.include_router(object_router(store))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c, q["exp"][0], q["sig"][0]


async def test_attack_non_canonical_expiry_is_refused(served: tuple[httpx.AsyncClient, str, str]) -> None:
    client, exp, sig = served
    assert (await client.get("/objects/t1/cam/a.jpg", params={"exp": exp, "sig": sig})).status_code == 200
    for spelt in (f"+{exp}", f"0{exp}", "1.7e9", f" {exp}", f"{exp} ", f"{int(exp):_}"):
        resp = await client.get("/objects/t1/cam/a.jpg", params={"exp": spelt, "sig": sig})
        assert resp.status_code == 403, spelt
        assert resp.json()["detail"] == "invalid URL signature"
