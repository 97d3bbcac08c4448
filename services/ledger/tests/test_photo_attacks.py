"""Ledger photos go through the platform's one picture rule: the red-team's uploads are refused (#17.2)."""

from __future__ import annotations

import json

from bkcore.testing.pictures import jpeg, png_bomb

SUP = {
    "site_id": "lakeside-primary",
    "name": "明湖蔬菜配送",
    "address": "菜市路 1 号",
    "contact": "赵",
    "phone": "0571-88886666",
    "business_licence_no": "91350100M000100Y43",
    "food_licence_no": "JY13301000001",
    "food_licence_expires": "2027-12-31",
}


async def test_a_tiny_png_claiming_100_megapixels_is_refused_by_name(h) -> None:  # type: ignore[no-untyped-def]
    r = await h.client.post(
        "/v1/suppliers",
        headers=h.auth(),
        data={"payload": json.dumps(SUP)},
        files=[("licences", ("l.png", png_bomb(), "image/png"))],
    )
    assert r.status_code == 422, r.text
    err = r.json()["detail"][0]
    assert err["loc"] == ["body", "licences", 0] and err["type"] == "too_many_pixels"
    assert "10000x10000" in err["msg"]


async def test_a_declared_jpeg_that_is_not_one_is_refused(h) -> None:  # type: ignore[no-untyped-def]
    r = await h.client.post(
        "/v1/suppliers",
        headers=h.auth(),
        data={"payload": json.dumps(SUP)},
        files=[
            ("licences", ("l.jpg", jpeg(), "image/jpeg")),
            ("licences", ("x.jpg", b"MZ\x90", "image/jpeg")),
        ],
    )
    assert r.status_code == 422, r.text
    err = r.json()["detail"][0]
    assert err["loc"] == ["body", "licences", 1] and err["type"] == "not_image"
