"""Fixtures of the fault suite: a fresh Kafka-protocol broker per test (a fault must not inherit
another test's topics or committed offsets), and the suite's helper modules on the import path."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # importlib mode: let the tests import fault_*.py

from bkcore.testing.kafka import kafka_mock_cluster


@pytest.fixture
def kafka_mock() -> Iterator[str]:
    """librdkafka's mock cluster (idempotent producers work): the broker of every test that does not
    take the broker itself down."""
    with kafka_mock_cluster() as bootstrap:
        yield bootstrap
