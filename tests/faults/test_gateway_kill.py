"""Fault: the stream gateway is killed (``kill -9``) mid-stream and started again.

The detector and the case-manager stay up. Frames the gateway had in flight are lost with it (a
counted loss of frames, not of violations); every violation the detector answered still reaches a
case, once; the cameras resume on the new gateway and new violations reach cases.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from fault_stack import Servers, Stack

pytestmark = [pytest.mark.faults, pytest.mark.integration]


async def test_gateway_killed_mid_stream(tmp_path: Path, pg_url: str, kafka_mock: str) -> None:
    async with Stack(tmp_path, Servers(pg_url, kafka_mock)) as stack:
        await stack.wait_recovered(since=datetime.now(UTC))  # violations flow end to end
        stack.gateway.kill()
        stack.gateway.start()
        await stack.gateway.wait_ready()
        back = datetime.now(UTC)

        await stack.wait_recovered(since=back)
        assert await stack.settle() == []
        assert await stack.dead_letters() == {}
        stack.assert_survivors(stack.detector, stack.cases)
