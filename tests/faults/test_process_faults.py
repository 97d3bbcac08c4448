"""Faults of the capture path's own processes, one after the other on one stack (fault_stack):
the gateway killed, the detector killed mid-batch, a detector slower than the gateway's timeout.

Each test injects its fault right as a violation is raised and ends when the stack has recovered by
itself: a violation raised afterwards reaches a case, every violation the detector ever answered is
published and counted once (fault_truth), nothing is dead-lettered, and no process but the one the
fault took down was restarted. The stack is shared (module scope) to pay its start once; each test
also stands alone (``-k``).

The gateway waits ``BK_DETECTOR_TIMEOUT_S`` = 10 s (the default) for a detector's answer, and calls
the AI not running after ``BK_DETECTOR_STALL_S`` = 3 s without answers.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio
from fault_stack import Servers, Stack, wait_until
from fault_tap import AnsweredFrame

from bkcore.testing.kafka import kafka_mock_cluster
from bkcore.testing.postgres import temporary_database
from bkcore.testing.s3 import S3Server

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]
TIMEOUT_S = 10.0  # BK_DETECTOR_TIMEOUT_S, the default: a backlog's batches of 32 frames fit in it on a CPU
STALL_S = 3.0
DETECTOR_DOWN_S = 6.0


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server) -> AsyncIterator[Stack]:
    workdir: Path = tmp_path_factory.mktemp("process-faults")
    gateway = {"BK_DETECTOR_TIMEOUT_S": str(TIMEOUT_S), "BK_DETECTOR_STALL_S": str(STALL_S)}
    with kafka_mock_cluster() as bootstrap:
        async with (
            temporary_database("bk_faults") as db,
            Stack(workdir, Servers(db, bootstrap, s3_server), gateway_env=gateway) as running,
        ):
            yield running


async def _recovered(stack: Stack, since: datetime) -> None:
    await stack.wait_recovered(since=since)
    assert await stack.settle() == []
    assert await stack.dead_letters() == {}


async def _gateway_says_ai_not_running(stack: Stack, within_s: float) -> dict[str, str]:
    reasons: dict[str, str] = {}

    async def not_ready() -> bool:
        code, body = await stack.gateway.readiness()
        reasons.update(body.get("reasons", {}))
        return code == 503 and body["checks"]["detectors"] is False

    await wait_until(not_ready, within_s, "the gateway's /readyz still says detectors ready", stack.logs)
    ai = await stack.ai_status()  # what the console's "AI not running" banner shows
    assert not ai["running"] and ai["state"] in ("no_answers", "no_detectors"), ai
    assert await stack.gateway.metric("bk_gateway_ai_running") == 0
    return reasons


async def test_gateway_killed_mid_stream(stack: Stack) -> None:
    """``kill -9`` of the gateway as a violation is raised, then started again: frames in its queue are
    lost (frames, not violations), the cameras resume, the detector and case-manager go on."""
    before = stack.starts()
    await stack.violation_raised()
    stack.gateway.kill()
    stack.gateway.start()
    await stack.gateway.wait_ready()

    await _recovered(stack, datetime.now(UTC))
    stack.assert_survivors(before, stack.detector, stack.cases)


async def test_detector_killed_mid_batch(stack: Stack) -> None:
    """``kill -9`` of the detector right after it answered a frame that raised a violation, with other
    batches in flight; started again some seconds later. The acknowledged violation must still be
    published and counted: its STARTED was durable before the answer left."""
    before = stack.starts()
    killed = threading.Event()

    def kill_on_answer(_frame: AnsweredFrame, _violation_type: str) -> None:
        # On the tap's relay thread, before this answer is passed on: the detector has sent it, so
        # the violation is acknowledged; now it dies with whatever it still held in memory.
        if not killed.is_set():
            stack.detector.kill()
            killed.set()

    async def detector_killed() -> bool:
        return killed.is_set()

    lost_before = await stack.gateway.metric("bk_gateway_frames_lost_total")
    stack.tap.on_raised = kill_on_answer
    try:
        await wait_until(detector_killed, 90, "the detector raised no violation", stack.logs)
    finally:
        stack.tap.on_raised = None
    try:
        reasons = await _gateway_says_ai_not_running(stack, DETECTOR_DOWN_S)
        assert reasons.get("detectors"), reasons  # says why, for the operator
    finally:
        stack.detector.start()  # even on failure: the next test needs a detector
    await stack.detector.wait_ready()
    back = datetime.now(UTC)
    await stack.gateway.wait_ready(60)

    await _recovered(stack, back)
    stack.assert_survivors(before, stack.gateway, stack.cases)
    assert await stack.gateway.metric("bk_gateway_frames_lost_total") > lost_before  # the batches in flight


async def test_detector_slower_than_the_timeout(stack: Stack) -> None:
    """The detector's answers come ``TIMEOUT_S + 3`` s late for a while (the tap holds each one), then
    promptly. No silent stall: the gateway tears the stream down and reconnects, says its AI is not
    running (with the reason) while no answer comes, logs the gap, and cases resume by themselves."""
    before = stack.starts()
    lost_before = await stack.gateway.metric("bk_gateway_frames_lost_total", reason="timeout")
    await stack.violation_raised()
    stack.tap.delay_s = TIMEOUT_S + 3
    try:
        reasons = await _gateway_says_ai_not_running(stack, TIMEOUT_S + STALL_S + 10)
        assert reasons.get("detectors"), reasons
    finally:
        stack.tap.delay_s = 0.0
    fast_since = datetime.now(UTC)

    await stack.gateway.wait_ready(60)
    await _recovered(stack, fast_since)
    stack.assert_survivors(before, *stack.processes)
    assert (await stack.ai_status())["running"]
    assert await stack.gateway.metric("bk_gateway_frames_lost_total", reason="timeout") > lost_before
    log = stack.gateway.log_path.read_text()
    assert "stream down (timeout)" in log and "AI not running" in log, log[-3000:]  # the gap, logged
