"""Choose the bus adapter from settings: Kafka in production, the in-process log when embedded."""

from __future__ import annotations

from pathlib import Path

from bkcore.bus.base import Bus
from bkcore.bus.inproc import InProcessBus
from bkcore.settings import BusKind, CoreSettings

# Embedded mode runs every service in one process, each building its runtime from settings: they must
# share one in-process bus per file, or a publish in one service would never wake another's consumers.
_inproc_buses: dict[Path, InProcessBus] = {}


def make_bus(settings: CoreSettings) -> Bus:
    if settings.bus == BusKind.KAFKA:
        from bkcore.bus.kafka import KafkaBus  # aiokafka only where Kafka is used

        return KafkaBus(
            settings.kafka_bootstrap,
            settings.kafka_client_id or settings.service_name,
            idempotent=settings.kafka_idempotence,
        )
    path = (settings.data_dir / "bus.sqlite").resolve()
    bus = _inproc_buses.get(path)
    if bus is None:
        bus = _inproc_buses[path] = InProcessBus(path)
    return bus
