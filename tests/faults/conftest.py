"""Fixtures of the fault suite: servers a test may take down, each fresh per test (a fault must not
inherit another test's topics, committed offsets or damage), and the suite's helper modules on the
import path."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # importlib mode: let the tests import fault_*.py

from fault_net import TcpCut

from bkcore.testing.kafka import kafka_mock_cluster
from bkcore.testing.postgres import PrivateCluster, private_cluster
from bkcore.testing.s3 import SeaweedHandle, restartable_seaweedfs_s3
from bkcore.testing.tansu import TansuBroker, tansu_broker


@pytest.fixture
def kafka_mock() -> Iterator[str]:
    """librdkafka's mock cluster (idempotent producers work): the broker of every test that does not
    take the broker itself down."""
    with kafka_mock_cluster() as bootstrap:
        yield bootstrap


@pytest.fixture
def pg_cluster() -> Iterator[PrivateCluster]:
    """A PostgreSQL cluster of the test's own, which it may stop and start."""
    with private_cluster() as cluster:
        yield cluster


@pytest.fixture
def seaweed() -> Iterator[SeaweedHandle]:
    """SeaweedFS with S3, which the test may stop and start on the same ports and data."""
    with restartable_seaweedfs_s3() as handle:
        yield handle


@pytest.fixture
def tansu_cut() -> Iterator[tuple[TansuBroker, TcpCut]]:
    """Tansu behind a link the test may cut: the broker advertises the link's port, so every client,
    after its first metadata request as before it, reaches the broker only through the link."""
    with TcpCut() as link, tansu_broker(advertised_port=link.port) as broker:
        link.target_port = broker.listen_port
        yield broker, link
