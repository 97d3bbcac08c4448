"""bkcore.warehouse: stable bytes, versions, pseudonyms, the manifest and its verification, the schedule."""

from __future__ import annotations

import io
import secrets
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from bkcore.objstore.local import LocalObjectStore
from bkcore.settings import CoreSettings
from bkcore.warehouse import (
    ROW_GROUP,
    Col,
    Kind,
    Pseudonymiser,
    TableSpec,
    days,
    export_day,
    parquet_bytes,
    pseudonymiser_for,
    read_manifest,
    scheduled_days,
    stream_parquet,
    to_arrow,
    verify,
)

SPEC = TableSpec(
    "checks",
    1,
    (
        Col("id", Kind.STRING),
        Col("at", Kind.TIMESTAMP),
        Col("name", Kind.STRING, personal=True),
        Col("temp", Kind.FLOAT),
        Col("tags", Kind.JSON),
        Col("day", Kind.DATE),
    ),
    key=("id",),
)
ROWS = [
    {"id": f"r{i:03d}", "at": datetime(2026, 9, 1, 8, i % 60), "name": f"员工{i % 7}", "temp": 36 + i % 3}
    | {"tags": {"b": i, "a": [1, 2]}, "day": "2026-09-01"}
    for i in range(300)
]
PSEUDO = Pseudonymiser("k" * 32, "minghu", raw=False)


@pytest.mark.unit
def test_same_rows_same_bytes_in_any_order() -> None:
    a = parquet_bytes(SPEC, to_arrow(SPEC, ROWS, PSEUDO))
    b = parquet_bytes(SPEC, to_arrow(SPEC, list(reversed(ROWS)), PSEUDO))
    assert a == b
    t = pq.read_table(io.BytesIO(a))
    assert t.column("id").to_pylist() == sorted(r["id"] for r in ROWS)
    assert t.schema.metadata[b"bk.version"] == b"1" and t.column("tags")[0].as_py() == '{"a":[1,2],"b":0}'
    assert t.column("at")[0].as_py() == datetime(2026, 9, 1, 8, 0, tzinfo=UTC)  # naive read as UTC


async def _batches(sizes: Sequence[int], rows: list[dict[str, Any]]) -> bytes:
    async def fetch(start: datetime, end: datetime) -> AsyncIterator[Sequence[Mapping[str, Any]]]:
        at = 0
        for n in sizes:
            yield rows[at : at + n]
            at += n

    return await stream_parquet(BIG, fetch, datetime.now(UTC), datetime.now(UTC), PSEUDO)


BIG = TableSpec("big", 1, (Col("id", Kind.INT), Col("v", Kind.FLOAT)), key=("id",))


async def test_batches_of_any_size_give_the_same_row_groups_and_bytes() -> None:
    rows = [{"id": i, "v": i / 7} for i in range(ROW_GROUP + 1000)]
    one = await _batches([len(rows)], rows)
    many = await _batches([10, ROW_GROUP - 5, 3, 992], rows)
    assert one == many
    meta = pq.ParquetFile(io.BytesIO(one)).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [ROW_GROUP, 1000]
    with pytest.raises(ValueError, match="not in key order"):
        await _batches([500, 500], rows[500:1000] + rows[:500])


@pytest.mark.unit
def test_a_duplicate_key_or_a_missing_column_is_refused() -> None:
    with pytest.raises(ValueError, match="share the key"):
        to_arrow(SPEC, [ROWS[0], ROWS[0]], PSEUDO)
    with pytest.raises(ValueError, match="lacks"):
        to_arrow(SPEC, [{"id": "x"}], PSEUDO)
    with pytest.raises(ValueError, match="personal column"):
        TableSpec("t", 1, (Col("id", Kind.STRING, personal=True),), key=("id",))


@pytest.mark.unit
def test_the_fingerprint_follows_the_schema() -> None:
    changed = TableSpec("checks", 1, (*SPEC.columns, Col("extra", Kind.INT)), key=("id",))
    assert changed.fingerprint != SPEC.fingerprint


@pytest.mark.unit
def test_pseudonyms_are_stable_per_tenant_and_hide_the_value() -> None:
    other = Pseudonymiser("k" * 32, "riverton", raw=False)
    assert PSEUDO("13800000000") == PSEUDO("13800000000") != other("13800000000")
    assert PSEUDO("13800000000").startswith("ps_") and "13800000000" not in PSEUDO("13800000000")
    assert PSEUDO("") == "" and PSEUDO(None) is None
    assert Pseudonymiser("", "minghu", raw=True)("13800000000") == "13800000000"
    with pytest.raises(ValueError, match="needs a key"):
        Pseudonymiser("", "minghu", raw=False)


def test_the_tenants_policy_decides(tmp_path: Path) -> None:
    settings = CoreSettings(data_dir=tmp_path, warehouse_raw_personal_tenants=["riverton"])
    assert pseudonymiser_for(settings, "riverton")("陈强") == "陈强"
    hidden = pseudonymiser_for(settings, "minghu")("陈强")
    assert hidden is not None and hidden.startswith("ps_")
    # The embedded key is generated once and kept: the same pseudonym after a restart.
    assert pseudonymiser_for(CoreSettings(data_dir=tmp_path), "minghu")("陈强") == hidden


@pytest.mark.unit
def test_windows_and_the_schedule() -> None:
    assert days(date(2026, 9, 1), date(2026, 9, 3)) == [date(2026, 9, d) for d in (1, 2, 3)]
    with pytest.raises(ValueError, match="before it starts"):
        days(date(2026, 9, 2), date(2026, 9, 1))
    with pytest.raises(ValueError, match="longer than"):
        days(date(2026, 8, 1), date(2026, 9, 1))
    at = datetime(2026, 9, 5, 2, 30, tzinfo=UTC)
    kw: dict[str, Any] = {"export_at": "02:00", "lookback_days": 2, "last_run": None}
    assert scheduled_days(at, **kw) == [date(2026, 9, 3), date(2026, 9, 4)]
    assert scheduled_days(at, **{**kw, "export_at": "03:00"}) == []  # not yet
    assert scheduled_days(at, **{**kw, "last_run": date(2026, 9, 5)}) == []  # done today
    assert scheduled_days(at, **{**kw, "export_at": ""}) == []  # off


async def test_a_run_writes_partitions_and_a_manifest_that_verifies(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path, "secret-for-tests", "http://test")

    async def fetch(start: datetime, end: datetime) -> AsyncIterator[Sequence[Mapping[str, Any]]]:
        assert (start, end) == (datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 9, 2, tzinfo=UTC))
        yield ROWS[:100]
        yield ROWS[100:]

    async def nothing(start: datetime, end: datetime) -> AsyncIterator[Sequence[Mapping[str, Any]]]:
        yield []

    empty = TableSpec("empty", 2, SPEC.columns, key=("id",))
    kw: dict[str, Any] = {"producer": "test", "tenant_id": "minghu", "pseudo": PSEUDO}
    kw["day"] = date(2026, 9, 1)
    m = await export_day(store, tables=[(SPEC, fetch), (empty, nothing)], **kw)
    assert [(f.key, f.rows) for f in m.files] == [
        ("minghu/warehouse/checks/v1/date=2026-09-01/part-0.parquet", 300),
        ("minghu/warehouse/empty/v2/date=2026-09-01/part-0.parquet", 0),
    ]
    assert await read_manifest(store, tenant_id="minghu", producer="test", day=date(2026, 9, 1)) == m
    assert await verify(store, m) == []
    raw = await store.get("minghu/warehouse/_manifests/test/2026-09-01.json")
    again = await export_day(store, tables=[(SPEC, fetch), (empty, nothing)], **kw)
    assert again == m and await store.get("minghu/warehouse/_manifests/test/2026-09-01.json") == raw

    await store.delete(m.files[1].key)
    bad = m.model_copy(update={"files": [m.files[0].model_copy(update={"rows": 299}), m.files[1]]})
    assert await verify(store, bad) == [
        f"{m.files[0].key}: 300 rows, the manifest says 299",
        f"{m.files[1].key}: missing",
    ]


def test_production_refuses_a_schedule_without_a_key(tmp_path: Path) -> None:
    scheduled = CoreSettings(data_dir=tmp_path, warehouse_export_at="02:30")
    assert any("BK_WAREHOUSE_PSEUDONYM_KEY" in why for why in scheduled.production_refusals(None, True))
    key = secrets.token_hex(32)
    keyed = CoreSettings(data_dir=tmp_path, warehouse_export_at="02:30", warehouse_pseudonym_key=key)
    assert not any("WAREHOUSE" in why for why in keyed.production_refusals(None, True))
    placeholder = CoreSettings(data_dir=tmp_path, warehouse_pseudonym_key="k" * 40)  # refused as such
    assert any("BK_WAREHOUSE_PSEUDONYM_KEY" in why for why in placeholder.production_refusals(None, True))
    with pytest.raises(ValueError, match="BK_WAREHOUSE_PSEUDONYM_KEY must be at least"):
        CoreSettings(data_dir=tmp_path, warehouse_pseudonym_key="short")  # in every mode
    with pytest.raises(ValueError, match="warehouse_export_at"):
        CoreSettings(data_dir=tmp_path, warehouse_export_at="25:00")
