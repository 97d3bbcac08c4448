"""The bus's own metrics: consumers paused by an outage, their retries, and dead letters written.

Labels are the source topic and the consumer group (``consumer_group=""`` for dead letters written by a
handler itself, e.g. a webhook given up on). ``bk_bus_dead_letters_total`` counts every message that
landed on a ``.dlq`` topic through this process, whoever wrote it: the alert on DLQ growth reads it.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

CONSUMER_OUTAGE = Gauge(
    "bk_bus_consumer_outage",
    "1 while a consumer group pauses a topic because the infrastructure is down (retrying, not committing)",
    ["topic", "consumer_group"],
)
OUTAGE_RETRIES = Counter(
    "bk_bus_outage_retries_total",
    "handler runs that failed on an outage and will be retried",
    ["topic", "consumer_group"],
)
DEAD_LETTERS = Counter(
    "bk_bus_dead_letters_total",
    "messages written to a dead-letter topic (<topic>.dlq)",
    ["topic", "consumer_group"],
)
