"""What the ledger exports to the warehouse: its tables, their versions and the columns that name people.

A table's schema comes from its SQLAlchemy definition, so a migration that changes a ledger changes
the fingerprint; ``tests/test_warehouse.py`` pins each version's fingerprint and so asks for the
version to go up. Ledgers are partitioned by the day a record was written (``created_at``): records
are appended, so an incremental export of yesterday finds every one, back-dated entries included.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Table

from bk_ledger.exports.models import EXPORTS
from bkcore.warehouse import Col, Kind, TableSpec, spec_from_table

PRODUCER = "ledger"


@dataclass(frozen=True)
class LedgerTable:
    spec: TableSpec
    table: Table


#: Columns that identify a person, per ledger (the exports' names): pseudonymised unless allowed.
PERSONAL: dict[str, tuple[str, ...]] = {
    "morning-checks": ("staff_name", "checker"),
    "purchases": (),
    "suppliers": ("contact", "phone"),
    "pesticide-tests": ("tester",),
    "disinfections": ("operator",),
    "samples": ("taker", "disposed_by"),
    "accompanying-meals": ("leader",),
    "dishes-served": (),
    "staff": ("name",),
    "health-certificates": ("cert_no",),
    "exam-results": ("certificate_no",),
}
#: Schema version per ledger: bump it with the table (the old version's files stay where they are).
VERSIONS: dict[str, int] = dict.fromkeys(EXPORTS, 1)


def _warehouse_name(export_name: str) -> str:
    return "ledger_" + export_name.replace("-", "_")


LEDGERS: dict[str, LedgerTable] = {
    _warehouse_name(name): LedgerTable(
        spec_from_table(_warehouse_name(name), VERSIONS[name], exp.table, personal=PERSONAL[name]),
        exp.table,
    )
    for name, exp in EXPORTS.items()
}

SENSOR_READINGS = TableSpec(
    "sensor_readings",
    1,
    (
        Col("tenant_id", Kind.STRING),
        Col("site_id", Kind.STRING),
        Col("sensor_id", Kind.STRING),
        Col("kind", Kind.STRING),
        Col("unit", Kind.STRING),
        Col("ts", Kind.TIMESTAMP),
        Col("value", Kind.FLOAT),
    ),
    key=("sensor_id", "ts"),
)
#: One row per sensor and hour that had readings: what the sensor history API answers for 1 h buckets.
SENSOR_READINGS_HOURLY = TableSpec(
    "sensor_readings_hourly",
    1,
    (
        Col("tenant_id", Kind.STRING),
        Col("site_id", Kind.STRING),
        Col("sensor_id", Kind.STRING),
        Col("kind", Kind.STRING),
        Col("unit", Kind.STRING),
        Col("hour", Kind.TIMESTAMP),
        Col("n", Kind.INT),
        Col("min", Kind.FLOAT),
        Col("mean", Kind.FLOAT),
        Col("max", Kind.FLOAT),
    ),
    key=("sensor_id", "hour"),
)

TABLES: tuple[str, ...] = (*LEDGERS, SENSOR_READINGS.name, SENSOR_READINGS_HOURLY.name)
