"""Servers for cross-service tests, each started on loopback for the session and stopped after.

A server that cannot start fails the tests that need it, with a message naming what is missing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from bkcore.testing.kafka import kafka_mock_cluster
from bkcore.testing.postgres import temporary_database
from bkcore.testing.s3 import S3Server, seaweedfs_s3


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    with kafka_mock_cluster() as bootstrap:
        yield bootstrap


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    with seaweedfs_s3() as server:
        yield server


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with temporary_database("bk_e2e") as url:
        yield url
