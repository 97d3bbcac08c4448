"""The platform with a detector that answers slower than the gateway's timeout, then normally.

While it is slow, the gap shows: the gateway tears its stream down and logs it once, /readyz says the
detectors are not ready and why, GET /v1/ai/status and each camera's ai_state say the AI is not
running, and no case appears. Once the detector is normal again, cases appear without a restart.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

import httpx
import numpy as np
import pytest

from bk_detector.modelapi import DetectionModel, RawDetectionLike, load_model
from bkcore.settings import CoreSettings
from brightkitchen.platform import Platform, PlatformOptions

pytestmark = pytest.mark.e2e
T = TypeVar("T")
TIMEOUT_S, STALL_S, SLOW_S = 2.0, 6.0, 4.0  # the detector answers SLOW_S after the gateway gives up
CAMERAS = ("lakeside-primary-storage", "lakeside-primary-prep")  # a rat at 10-17 s, a hat off at 8 s


class SlowModel:
    """The shipped model, made slower than the gateway's timeout while ``slow`` is set."""

    def __init__(self, model: DetectionModel) -> None:
        self._model = model
        self.slow = threading.Event()
        for name in ("labels", "version", "name", "device", "precision", "input_width", "input_height"):
            setattr(self, name, getattr(model, name))

    def predict(self, images: list[np.ndarray]) -> Sequence[Sequence[RawDetectionLike]]:
        if self.slow.is_set():
            time.sleep(SLOW_S)
        return self._model.predict(images)


async def _login(client: httpx.AsyncClient) -> dict[str, str]:
    r = await client.post("/api/cases/auth/login", json={"username": "city", "password": "demo-city"})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def _poll(what: str, within_s: float, probe: Callable[[], Awaitable[T | None]]) -> T:
    """``probe()`` until it returns something truthy; its last value in the failure message."""
    deadline = time.monotonic() + within_s
    last = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(0.5)
    raise AssertionError(f"no {what} within {within_s} s; last: {last}")


async def test_a_slow_detector_shows_as_a_gap_then_cases_appear(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    monkeypatch.setenv("BK_DETECTOR_TIMEOUT_S", str(TIMEOUT_S))
    monkeypatch.setenv("BK_DETECTOR_STALL_S", str(STALL_S))
    from bk_detector.model.artifact import SHIPPED

    model = SlowModel(await asyncio.to_thread(load_model, SHIPPED, "cpu", None))
    model.slow.set()
    options = PlatformOptions(port=0, sim_fps=2.0, camera_ids=CAMERAS, detector_model=model)
    async with (
        Platform(CoreSettings(data_dir=tmp_path, log_json=False), options) as platform,
        httpx.AsyncClient(base_url=platform.base_url, timeout=30) as client,
    ):
        city = await _login(client)

        async def cases() -> list[dict]:
            r = await client.get("/api/cases/cases", params={"source": "detection"}, headers=city)
            assert r.status_code == 200, r.text
            return r.json()["items"]

        async def gap() -> tuple[httpx.Response, dict, list[dict]] | None:
            ready = await client.get("/api/gateway/readyz")
            ai = (await client.get("/api/gateway/v1/ai/status", headers=city)).json()
            cams = (await client.get("/api/gateway/v1/cameras/status", headers=city)).json()
            stalled = ready.status_code == 503 and ai["state"] == "no_answers"
            return (ready, ai, cams) if stalled else None

        # --- slow: the gap is visible while it lasts -------------------------------------------
        ready, ai, cams = await _poll("stall reported", 90, gap)
        reason = ready.json()["reasons"]["detectors"]
        assert "no detector has answered" in reason and f"no answer for {TIMEOUT_S:g} s" in reason
        assert ai["running"] is False and ai["since"] and ai["reason"]
        assert len(ai["detectors"]) == 1 and ai["detectors"][0]["last_answer_at"] is None
        states = {c["camera_id"]: c["ai_state"] for c in cams}
        assert {states[c] for c in CAMERAS} == {"no_answers"}, cams
        assert await cases() == []  # nothing answered, nothing judged
        down = [r.getMessage() for r in caplog.records if "stream down (timeout)" in r.getMessage()]
        assert len(down) == 1, down  # once for the outage, not once per reconnect
        assert any(r.getMessage().startswith("AI not running (no_answers)") for r in caplog.records)

        # --- normal again: cases appear, the gateway says it runs --------------------------------
        model.slow.clear()
        first = await _poll("case from a detection after recovery", 120, cases)
        assert first[-1]["site_id"] == "lakeside-primary"

        async def running() -> dict | None:
            ready = await client.get("/api/gateway/readyz")
            ai = (await client.get("/api/gateway/v1/ai/status", headers=city)).json()
            return ai if ready.status_code == 200 and ai["state"] == "running" else None

        ai = await _poll("AI running again", 30, running)
        assert ai["running"] is True and ai["detectors"][0]["model_version"]
        assert any("recovered after" in r.getMessage() for r in caplog.records)
        assert any(r.getMessage().startswith("AI running again") for r in caplog.records)
