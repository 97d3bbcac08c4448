"""Fault: the Kafka-protocol broker goes away mid-stream for ``DOWN_S`` seconds and comes back.

The broker is Tansu behind a link the test cuts: every connection is reset and new ones are refused,
as when a broker restarts, while its log (memory-only in Tansu) is kept, as a real broker's is on
disk. The detector must keep the violations it raised meanwhile and publish them once the broker is
back; consumers resume from their committed offsets; an outage is never dead-lettered; the
case-manager's and the gateway's ``/readyz`` say the bus is down while it is. Nothing is lost,
nothing counted twice, no process restarted. Tansu has no idempotent producers: the services run with
``BK_KAFKA_IDEMPOTENCE=false`` and consumers dedupe retried sends by event id.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fault_net import TcpCut
from fault_stack import Servers, Stack, wait_until

from bkcore.testing.tansu import TansuBroker

pytestmark = [pytest.mark.faults, pytest.mark.integration]
DOWN_S = 30.0


async def test_broker_down_and_back(
    tmp_path: Path, pg_url: str, tansu_cut: tuple[TansuBroker, TcpCut]
) -> None:
    broker, link = tansu_cut
    servers = Servers(pg_url, broker.bootstrap, kafka_idempotence=False)
    async with Stack(tmp_path, servers) as stack:
        await stack.violation_raised()
        link.cut()
        down_at = asyncio.get_running_loop().time()

        async def bus_not_ready() -> bool:
            for service in (stack.cases, stack.gateway):
                code, body = await service.readiness()
                if code != 503 or body["checks"]["bus"] is not False:
                    return False
            return True

        await wait_until(
            bus_not_ready,
            DOWN_S,
            "/readyz of the case-manager or gateway still says the bus is up",
            stack.logs,
        )
        await asyncio.sleep(max(0.0, DOWN_S - (asyncio.get_running_loop().time() - down_at)))
        link.mend()
        back = datetime.now(UTC)

        for process in stack.processes:
            await process.wait_ready(90)
        await stack.wait_recovered(since=back)
        assert await stack.settle() == []
        assert await stack.dead_letters() == {}
        stack.assert_survivors(*stack.processes)
