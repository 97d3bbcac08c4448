"""Buses of both kinds for tests that hold the two adapters to one contract.

``bus_factory("inproc" | "kafka", folder, **options)`` yields a function that makes buses of that
kind (several may share one file or one cluster, as consumer-group tests need) and stops every bus
it made before the Kafka-protocol mock cluster goes away.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bkcore.bus.inproc import InProcessBus
from bkcore.bus.kafka import KafkaBus
from bkcore.testing.kafka import kafka_mock_cluster

BusFactory = Callable[[], Any]


@asynccontextmanager
async def bus_factory(
    kind: str, folder: Path, *, kafka_partitions: int = 2, **options: Any
) -> AsyncIterator[BusFactory]:
    """``options`` go to both adapters' constructors (backoffs and the like)."""
    made: list[Any] = []

    async def stop_all() -> None:
        for bus in made:
            await bus.stop()

    if kind == "inproc":

        def make() -> InProcessBus:
            made.append(InProcessBus(folder / "bus.sqlite", **options))
            return made[-1]

        try:
            yield make
        finally:
            await stop_all()
        return
    if kind != "kafka":
        raise ValueError(f"unknown bus kind {kind!r}; use 'inproc' or 'kafka'")
    with kafka_mock_cluster() as bootstrap:

        def make_kafka() -> KafkaBus:
            made.append(
                KafkaBus(
                    bootstrap,
                    "test",
                    topic_partitions=kafka_partitions,
                    replication_factor=1,
                    request_timeout_ms=10_000,
                    session_timeout_ms=3_000,
                    **options,
                )
            )
            return made[-1]

        try:
            yield make_kafka
        finally:
            await stop_all()
