"""The shared app's error answers: a 422 says where and what, and never echoes what was sent."""

from __future__ import annotations

import httpx
from pydantic import BaseModel, Field

from bkcore.http import create_app


class Camera(BaseModel):
    url: str = Field(pattern=r"^rtsp://[^@]*$")  # no credentials in the URL
    fps: float = Field(gt=0)


async def test_validation_errors_name_the_field_without_echoing_the_input() -> None:
    app = create_app(service="t", title="t")

    @app.post("/cameras")
    async def add(body: Camera) -> dict[str, str]:
        return {"ok": "yes"}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        r = await c.post("/cameras", json={"url": "rtsp://admin:Hunter-2@10.0.0.7/1", "fps": 0})
        ok = await c.post("/cameras", json={"url": "rtsp://10.0.0.7/1", "fps": 1})
    assert r.status_code == 422 and "Hunter-2" not in r.text
    detail = r.json()["detail"]
    assert {tuple(e["loc"]) for e in detail} == {("body", "url"), ("body", "fps")}
    assert all(set(e) == {"type", "loc", "msg"} and e["msg"] for e in detail)
    assert ok.status_code == 200
