"""Fault: the detector answers slower than the gateway's timeout for a while, then normally again.

Seen from the gateway, the detector's answers come ``DELAY_S`` late (the tap holds each one), more
than ``BK_DETECTOR_TIMEOUT_S``. The gateway must not stall silently: it tears the stream down and
reconnects with backoff, says on ``/readyz`` that its AI is not running (with the reason) while no
answer comes, and once answers are prompt again, cases appear again — with no process restarted.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from fault_stack import Servers, Stack, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.integration]
TIMEOUT_S = 10.0  # BK_DETECTOR_TIMEOUT_S, the default: a backlog's batches of 32 frames fit in it on a CPU
DELAY_S = TIMEOUT_S + 3  # each answer this late
SLOW_FOR_S = 25.0


async def test_detector_slower_than_the_timeout(tmp_path: Path, pg_url: str, kafka_mock: str) -> None:
    gateway = {"BK_DETECTOR_TIMEOUT_S": str(TIMEOUT_S), "BK_DETECTOR_STALL_S": "4"}
    async with Stack(tmp_path, Servers(pg_url, kafka_mock), gateway_env=gateway) as stack:
        await stack.wait_recovered(since=datetime.now(UTC))  # violations flow end to end

        stack.tap.delay_s = DELAY_S
        reasons: dict[str, str] = {}

        async def gateway_not_ready() -> bool:
            code, body = await stack.gateway.readiness()
            reasons.update(body.get("reasons", {}))
            return code == 503 and body["checks"]["detectors"] is False

        await wait_until(
            gateway_not_ready,
            SLOW_FOR_S,
            "the gateway's /readyz still says detectors ready while no answer comes in time",
            stack.logs,
        )
        assert reasons.get("detectors"), reasons
        ai = await stack.ai_status()  # the console's banner
        assert not ai["running"] and ai["state"] in ("no_answers", "no_detectors"), ai
        assert await stack.gateway.metric("bk_gateway_ai_running") == 0
        stack.tap.delay_s = 0.0
        fast_since = datetime.now(UTC)

        await stack.gateway.wait_ready(60)
        await stack.wait_recovered(since=fast_since)
        assert await stack.settle() == []
        assert await stack.dead_letters() == {}
        stack.assert_survivors(stack.detector, stack.gateway, stack.cases)
        assert (await stack.ai_status())["running"]
        assert await stack.gateway.metric("bk_gateway_frames_lost_total", reason="timeout") > 0
        log = stack.gateway.log_path.read_text()
        assert "AI not running" in log, log[-3000:]  # the gap is logged, with its cause
