"""Fault: PostgreSQL is stopped mid-stream (``pg_ctl stop -m fast``: every client disconnected) and
started again after ``DOWN_S`` seconds, while violations are being raised.

The gateway and the case-manager use it (registry, outboxes, cases, the inbox). An outage is not
poison: the case-manager stops consuming and retries without committing, nothing is dead-lettered,
and its ``/readyz`` says the database is down while it is. Afterwards every violation the detector
answered is counted once, and new ones keep arriving — with no process restarted.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fault_stack import Servers, Stack, wait_until

from bkcore.testing.postgres import PrivateCluster

pytestmark = [pytest.mark.faults, pytest.mark.integration]
DOWN_S = 15.0


async def test_postgres_restarted_mid_stream(
    tmp_path: Path, pg_cluster: PrivateCluster, kafka_mock: str
) -> None:
    database_url = await pg_cluster.create_database("bk_faults")
    async with Stack(tmp_path, Servers(database_url, kafka_mock)) as stack:
        await stack.violation_raised()
        await asyncio.to_thread(pg_cluster.stop, "fast")
        down_at = asyncio.get_running_loop().time()

        async def cases_not_ready() -> bool:
            code, body = await stack.cases.readiness()
            return code == 503 and body["checks"]["database"] is False

        await wait_until(
            cases_not_ready, DOWN_S, "the case-manager's /readyz still says the database is up", stack.logs
        )
        await asyncio.sleep(max(0.0, DOWN_S - (asyncio.get_running_loop().time() - down_at)))
        await asyncio.to_thread(pg_cluster.start)
        back = datetime.now(UTC)

        for process in stack.processes:
            await process.wait_ready(60)
        await stack.wait_recovered(since=back)
        assert await stack.settle() == []
        assert await stack.dead_letters() == {}
        stack.assert_survivors(*stack.processes)
