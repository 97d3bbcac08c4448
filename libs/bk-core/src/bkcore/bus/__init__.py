"""The event bus: one interface, two adapters (Kafka for production, in-process for embedded).

Build one with ``bkcore.bus.factory.make_bus(settings)``; ``bkcore.bus.kafka`` is imported only there,
so embedded installs never load aiokafka.
"""

from bkcore.bus.base import (
    DEAD_LETTER_SUFFIX,
    TOPICS,
    Bus,
    Delivery,
    Handler,
    MalformedEvent,
    PublishError,
    Record,
    decode_event,
    encode_event,
    new_meta,
)
from bkcore.bus.inproc import InProcessBus

__all__ = [
    "DEAD_LETTER_SUFFIX",
    "TOPICS",
    "Bus",
    "Delivery",
    "Handler",
    "InProcessBus",
    "MalformedEvent",
    "PublishError",
    "Record",
    "decode_event",
    "encode_event",
    "new_meta",
]
