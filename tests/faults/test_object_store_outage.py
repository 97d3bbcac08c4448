"""Fault: the object store (SeaweedFS's S3) is down for 60 s mid-stream, then back on the same
address with the same data.

Every violation raised meanwhile still needs its snapshots before its STARTED event (an event never
points at a missing object): the detector keeps them and retries, and the operator sees the retries
and the pending evidence in its metrics. Once the store is back, every violation the detector
answered — before, during and after the outage — is published and counted once, with no process
restarted.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fault_stack import Servers, Stack, wait_until

from bkcore.testing.s3 import SeaweedHandle

pytestmark = [pytest.mark.faults, pytest.mark.integration]
DOWN_S = 60.0


async def test_object_store_down_for_a_minute(
    tmp_path: Path, pg_url: str, kafka_mock: str, seaweed: SeaweedHandle
) -> None:
    async with Stack(tmp_path, Servers(pg_url, kafka_mock, s3=seaweed.server)) as stack:
        await stack.violation_raised()
        retries_before = await stack.detector.metric("bk_detector_evidence_retries_total", step="store")
        await asyncio.to_thread(seaweed.stop)
        down_at = asyncio.get_running_loop().time()

        async def store_retried() -> bool:  # what the operator sees: evidence waiting, store retried
            retries = await stack.detector.metric("bk_detector_evidence_retries_total", step="store")
            return (
                retries > retries_before and await stack.detector.metric("bk_detector_evidence_pending") > 0
            )

        await wait_until(
            store_retried, DOWN_S, "no evidence waited for the store during its outage", stack.logs
        )
        await asyncio.sleep(max(0.0, DOWN_S - (asyncio.get_running_loop().time() - down_at)))
        await asyncio.to_thread(seaweed.start)
        back = datetime.now(UTC)

        await stack.wait_recovered(since=back)
        assert await stack.settle() == []
        assert await stack.detector.metric("bk_detector_evidence_dropped_total") == 0
        assert await stack.dead_letters() == {}
        stack.assert_survivors(*stack.processes)
