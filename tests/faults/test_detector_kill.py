"""Fault: the detector is killed (``kill -9``) right after it answered a frame that raised a
violation, while other batches are in flight, and comes back some seconds later.

The gateway and the case-manager stay up. The violation the detector acknowledged must still be
published and counted (its STARTED was durable before the answer left), nothing is counted twice,
the gateway says its AI is not running while no detector answers, and reconnects on its own.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fault_stack import Servers, Stack, wait_until
from fault_tap import AnsweredFrame

pytestmark = [pytest.mark.faults, pytest.mark.integration]
DOWN_S = 8.0


async def test_detector_killed_mid_batch(tmp_path: Path, pg_url: str, kafka_mock: str) -> None:
    gateway = {"BK_DETECTOR_STALL_S": "3"}  # the default timeout: a backlog's first batches take seconds
    async with Stack(tmp_path, Servers(pg_url, kafka_mock), gateway_env=gateway) as stack:
        killed = threading.Event()

        def kill_on_first_answer(frame: AnsweredFrame, violation_type: str) -> None:
            # On the tap's relay thread, before this answer is passed on: the detector has sent it,
            # so the violation is acknowledged; now it dies with whatever it still held in memory.
            if not killed.is_set():
                stack.detector.kill()
                killed.set()

        async def detector_killed() -> bool:
            return killed.is_set()

        stack.tap.on_raised = kill_on_first_answer
        await wait_until(detector_killed, 90, "the detector raised no violation", stack.logs)
        stack.tap.on_raised = None

        async def gateway_not_ready() -> bool:
            code, body = await stack.gateway.readiness()
            return code == 503 and body["checks"]["detectors"] is False

        await wait_until(
            gateway_not_ready, DOWN_S, "the gateway's /readyz still says detectors ready", stack.logs
        )
        _, body = await stack.gateway.readiness()
        assert body.get("reasons", {}).get("detectors"), body  # says why, for the operator
        assert not (await stack.ai_status())["running"]

        stack.detector.start()
        await stack.detector.wait_ready()
        back = datetime.now(UTC)
        await stack.gateway.wait_ready(60)

        await stack.wait_recovered(since=back)
        assert await stack.settle() == []
        assert await stack.dead_letters() == {}
        stack.assert_survivors(stack.gateway, stack.cases)
        assert await stack.gateway.metric("bk_gateway_frames_lost_total") > 0  # the batches in flight
