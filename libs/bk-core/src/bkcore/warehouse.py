"""The data warehouse export (数据总仓): deterministic Parquet per tenant, table and day, with a manifest.

Each service exports the facts it owns (the case-manager its cases and directory, the ledger its
ledgers and sensor readings) through this one writer, so every file in the warehouse follows the same
rules:

* **Layout** ``<tenant>/warehouse/<table>/v<version>/date=YYYY-MM-DD/part-0.parquet`` (Hive-style, so
  DuckDB, Spark and Athena see ``date`` as a column). A day is a UTC day. A (table, version, day) is
  always exactly one file, so a re-run of the same window replaces it; a day without rows is a file
  without rows (the day was exported, and found empty).
* **Versions** every table has a fixed schema and a version. The schema's fingerprint is in the
  manifest and in each file's metadata; a schema change must bump the version (a test pins each
  version's fingerprint), and a new version lands beside the old one, never over it.
* **Stable bytes** rows sorted by the table's key, a fixed compression, row-group and page size, no
  timestamps of the run: the same rows give byte-for-byte the same file, whenever it runs.
* **Personal data** (names, phones, certificate numbers) is pseudonymised with an HMAC keyed per
  tenant (``Pseudonymiser``) unless the tenant's policy allows it raw: the same person has the same
  pseudonym in every table and every run, so analysts can still count and join.
* **Manifest** ``<tenant>/warehouse/_manifests/<producer>/<day>.json``: window, schema versions and
  fingerprints, row counts and the sha256 of every file. ``verify`` re-reads the files against it.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import itertools
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa
from pydantic import BaseModel

from bkcore.objstore.base import ObjectNotFound, ObjectStore, validate_key
from bkcore.secrets import embedded_secret
from bkcore.settings import CoreSettings, Mode
from bkcore.tasks import BackgroundLoop

log = logging.getLogger(__name__)

#: Rows per row group, and per write: part of what makes the bytes stable.
ROW_GROUP = 65_536
#: Zstandard at a fixed level: small files, and the same bytes from the same rows.
COMPRESSION = "zstd"
COMPRESSION_LEVEL = 3
#: A file's own metadata names its table, version and schema fingerprint.
META_TABLE, META_VERSION, META_FINGERPRINT = b"bk.table", b"bk.version", b"bk.fingerprint"
MANIFEST_FORMAT = "bk-warehouse-manifest/1"
#: The longest window one request may export (a month): a longer backfill is several calls (the CLI
#: asks for one day at a time), so no request holds a worker for hours.
MAX_WINDOW_DAYS = 31


class Kind(StrEnum):
    STRING = "string"
    INT = "int64"
    FLOAT = "float64"
    BOOL = "bool"
    DATE = "date"
    TIMESTAMP = "timestamp"
    JSON = "json"  # lists and objects, as canonical JSON text


_ARROW: dict[Kind, pa.DataType] = {
    Kind.STRING: pa.string(),
    Kind.INT: pa.int64(),
    Kind.FLOAT: pa.float64(),
    Kind.BOOL: pa.bool_(),
    Kind.DATE: pa.date32(),
    Kind.TIMESTAMP: pa.timestamp("us", tz="UTC"),
    Kind.JSON: pa.string(),
}


@dataclass(frozen=True, slots=True)
class Col:
    name: str
    kind: Kind
    personal: bool = False  # identifies a person: pseudonymised unless the tenant's policy allows it


@dataclass(frozen=True, slots=True)
class TableSpec:
    """One warehouse table: its name, schema version, columns and sort key (unique per row)."""

    name: str
    version: int
    columns: tuple[Col, ...]
    key: tuple[str, ...]

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names) or not set(self.key) <= set(names) or not self.key:
            raise ValueError(f"table {self.name}: duplicate columns, or a key not among its columns")
        for c in self.columns:
            if c.personal and (c.kind not in (Kind.STRING, Kind.JSON) or c.name in self.key):
                raise ValueError(f"table {self.name}: personal column {c.name} must be text, not a key")

    @property
    def fingerprint(self) -> str:
        """sha256 of the column names and types, in order: what a version stands for."""
        canon = json.dumps([[c.name, c.kind.value, c.personal] for c in self.columns])
        return hashlib.sha256(canon.encode()).hexdigest()

    def arrow_schema(self) -> pa.Schema:
        meta = {
            META_TABLE: self.name.encode(),
            META_VERSION: str(self.version).encode(),
            META_FINGERPRINT: self.fingerprint.encode(),
        }
        return pa.schema([pa.field(c.name, _ARROW[c.kind]) for c in self.columns], metadata=meta)


def kind_of(sql_type: sa.types.TypeEngine[Any]) -> Kind:
    """The warehouse type of a SQLAlchemy column type (TypeError for one it has no rule for)."""
    if isinstance(sql_type, sa.types.TypeDecorator):
        return kind_of(sql_type.impl_instance)
    for base, kind in (
        (sa.Boolean, Kind.BOOL),
        (sa.DateTime, Kind.TIMESTAMP),
        (sa.Date, Kind.DATE),
        (sa.Integer, Kind.INT),
        (sa.Float, Kind.FLOAT),
        (sa.Numeric, Kind.FLOAT),
        (sa.JSON, Kind.JSON),
        (sa.String, Kind.STRING),
    ):
        if isinstance(sql_type, base):
            return kind
    raise TypeError(f"no warehouse type for {sql_type!r}")


def spec_from_table(
    name: str,
    version: int,
    table: sa.Table,
    *,
    key: tuple[str, ...] = ("id",),
    personal: Collection[str] = (),
    exclude: Collection[str] = (),
) -> TableSpec:
    """A table's warehouse spec from its SQLAlchemy definition: a migration that changes the table
    changes the fingerprint, and the pinned-fingerprint test then asks for a new version."""
    cols = tuple(
        Col(c.name, kind_of(c.type), personal=c.name in personal) for c in table.c if c.name not in exclude
    )
    unknown = (set(personal) | set(exclude)) - {c.name for c in table.c}
    if unknown:
        raise ValueError(f"{name}: {sorted(unknown)} are not columns of {table.name}")
    return TableSpec(name, version, cols, key)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """[00:00, next 00:00) of a UTC day: the window of one export run."""
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


def days(start: date, end: date) -> list[date]:
    """Every day from ``start`` to ``end``, both included (ValueError when backwards or too long)."""
    if end < start:
        raise ValueError(f"the window ends ({end}) before it starts ({start})")
    n = (end - start).days + 1
    if n > MAX_WINDOW_DAYS:
        raise ValueError(f"a window of {n} days is longer than {MAX_WINDOW_DAYS}; export it in parts")
    return [start + timedelta(days=i) for i in range(n)]


def partition_key(tenant_id: str, spec: TableSpec, day: date) -> str:
    folder = f"{tenant_id}/warehouse/{spec.name}/v{spec.version}/date={day.isoformat()}"
    return validate_key(f"{folder}/part-0.parquet")


def manifest_key(tenant_id: str, producer: str, day: date) -> str:
    return validate_key(f"{tenant_id}/warehouse/_manifests/{producer}/{day.isoformat()}.json")


# -- personal data ----------------------------------------------------------------------------------


class Pseudonymiser:
    """HMAC-SHA256 of a personal value under a key derived for the tenant from the master key.

    Deterministic (the same phone is the same pseudonym in every table and run, so counts and joins
    still work) and not reversible without the key, which is a secret setting and never exported.
    ``raw`` (the tenant's policy allows personal data in its warehouse) leaves values as they are.
    """

    PREFIX = "ps_"

    def __init__(self, master_key: str, tenant_id: str, *, raw: bool) -> None:
        if not raw and not master_key:
            raise ValueError("pseudonymising needs a key (BK_WAREHOUSE_PSEUDONYM_KEY)")
        self.raw = raw
        self._key = hmac.new(master_key.encode(), f"warehouse:{tenant_id}".encode(), hashlib.sha256).digest()

    @property
    def policy(self) -> str:
        return "raw" if self.raw else "pseudonymised"

    def __call__(self, value: str | None) -> str | None:
        if self.raw or value is None or value == "":
            return value  # nothing to hide in an empty value; keep it visible as empty
        digest = hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()
        return self.PREFIX + digest[:32]


# -- rows to bytes ----------------------------------------------------------------------------------


def _cell(col: Col, value: Any, pseudo: Pseudonymiser) -> Any:
    if value is None:
        return None
    if col.kind == Kind.JSON:
        value = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    elif col.kind == Kind.TIMESTAMP:
        if not isinstance(value, datetime):
            raise TypeError(f"{col.name}: expected a datetime, got {type(value).__name__}")
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    elif col.kind == Kind.DATE and isinstance(value, datetime):
        value = value.date()
    elif col.kind == Kind.DATE and isinstance(value, str):
        value = date.fromisoformat(value)
    elif col.kind == Kind.FLOAT:
        value = float(value)
    if col.personal:
        value = pseudo(value if isinstance(value, str) else str(value))
    return value


def _sort_key(spec: TableSpec) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple((row[k] is not None, row[k]) for k in spec.key)  # None first, never compared

    return key


def to_arrow(spec: TableSpec, rows: Iterable[Mapping[str, Any]], pseudo: Pseudonymiser) -> pa.Table:
    """The rows as an Arrow table of ``spec``'s schema, sorted by its key (unique: ValueError if not)."""
    out = []
    for r in rows:
        missing = [c.name for c in spec.columns if c.name not in r]
        if missing:
            raise ValueError(f"{spec.name}: a row lacks {missing}")
        out.append({c.name: _cell(c, r[c.name], pseudo) for c in spec.columns})
    out.sort(key=_sort_key(spec))
    for a, b in itertools.pairwise(out):
        if all(a[k] == b[k] for k in spec.key):
            raise ValueError(f"{spec.name}: two rows share the key {[a[k] for k in spec.key]}")
    return pa.Table.from_pylist(out, schema=spec.arrow_schema())


#: How every file is written (with ``ROW_GROUP``-row groups): see the module's "Stable bytes".
_WRITER_OPTIONS: dict[str, Any] = {
    "compression": COMPRESSION,
    "compression_level": COMPRESSION_LEVEL,
    "use_dictionary": True,
    "write_statistics": True,
    "data_page_size": 1 << 20,
    "version": "2.6",
    "store_schema": True,
}


class _GroupWriter:
    """Writes tables in key order as row groups of exactly ``ROW_GROUP`` rows (the last one less),
    whatever sizes they arrive in, so the bytes depend on the rows alone; holds at most one group
    beyond the table being added."""

    def __init__(self, spec: TableSpec) -> None:
        self.spec, self.buf = spec, io.BytesIO()
        self._writer = pq.ParquetWriter(self.buf, spec.arrow_schema(), **_WRITER_OPTIONS)
        self._pending: list[pa.Table] = []
        self._n = 0
        self._last: tuple[Any, ...] | None = None

    def add(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        first, last = (self._key(table, i) for i in (0, table.num_rows - 1))
        if self._last is not None and not first > self._last:
            raise ValueError(f"{self.spec.name}: batches not in key order, or a key repeated across them")
        self._last = last
        self._pending.append(table)
        self._n += table.num_rows
        while self._n >= ROW_GROUP:
            whole = pa.concat_tables(self._pending)
            self._writer.write_table(whole.slice(0, ROW_GROUP), row_group_size=ROW_GROUP)
            rest = whole.slice(ROW_GROUP)
            self._pending, self._n = [rest], rest.num_rows

    def close(self) -> bytes:
        if self._n:
            self._writer.write_table(pa.concat_tables(self._pending), row_group_size=ROW_GROUP)
        self._writer.close()
        return self.buf.getvalue()

    def _key(self, table: pa.Table, i: int) -> tuple[Any, ...]:
        return tuple((v is not None, v) for v in (table.column(k)[i].as_py() for k in self.spec.key))


def parquet_bytes(spec: TableSpec, table: pa.Table) -> bytes:
    """One Parquet file of ``spec``'s sorted rows, written the same way every time."""
    w = _GroupWriter(spec)
    w.add(table)
    return w.close()


async def stream_parquet(
    spec: TableSpec, fetch: Fetch, start: datetime, end: datetime, pseudo: Pseudonymiser
) -> bytes:
    """The file of everything ``fetch`` yields; each batch is sorted here, and batches must follow one
    another in key order (e.g. one sensor after another), so a day of readings never sits in memory
    whole."""
    w = _GroupWriter(spec)
    async for batch in fetch(start, end):
        w.add(to_arrow(spec, batch, pseudo))
    return w.close()


# -- a run -------------------------------------------------------------------------------------------


class FileEntry(BaseModel):
    table: str
    version: int
    fingerprint: str
    key: str
    rows: int
    bytes: int
    sha256: str


class Manifest(BaseModel):
    format: str = MANIFEST_FORMAT
    tenant_id: str
    producer: str
    window_start: datetime
    window_end: datetime  # exclusive
    personal_data: str  # raw | pseudonymised
    files: list[FileEntry]

    def canonical(self) -> bytes:
        """The manifest's bytes: sorted keys, no run time, so an unchanged re-run writes the same."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, indent=1, ensure_ascii=False).encode()


#: Where a table's rows for one day come from, the owning service's own query: batches of rows in any
#: order within a batch, the batches one after another in key order (one batch is always fine).
Fetch = Callable[[datetime, datetime], AsyncIterator[Sequence[Mapping[str, Any]]]]


async def export_day(
    store: ObjectStore,
    *,
    producer: str,
    tenant_id: str,
    day: date,
    tables: Sequence[tuple[TableSpec, Fetch]],
    pseudo: Pseudonymiser,
) -> Manifest:
    """Write every table's partition of ``day`` for ``tenant_id`` and then the run's manifest.

    The manifest is written last: a run that fails half-way leaves the previous manifest (or none),
    so ``verify`` tells a reader that the day is not complete."""
    start, end = day_bounds(day)
    files = []
    for spec, fetch in tables:
        data = await stream_parquet(spec, fetch, start, end, pseudo)
        key = partition_key(tenant_id, spec, day)
        await store.put(key, data, "application/vnd.apache.parquet")
        meta = pq.ParquetFile(io.BytesIO(data)).metadata
        files.append(
            FileEntry(
                table=spec.name,
                version=spec.version,
                fingerprint=spec.fingerprint,
                key=key,
                rows=meta.num_rows,
                bytes=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
            )
        )
    manifest = Manifest(
        tenant_id=tenant_id,
        producer=producer,
        window_start=start,
        window_end=end,
        personal_data=pseudo.policy,
        files=files,
    )
    await store.put(manifest_key(tenant_id, producer, day), manifest.canonical(), "application/json")
    return manifest


async def read_manifest(store: ObjectStore, *, tenant_id: str, producer: str, day: date) -> Manifest | None:
    try:
        raw = await store.get(manifest_key(tenant_id, producer, day))
    except ObjectNotFound:
        return None
    return Manifest.model_validate_json(raw)


async def verify(store: ObjectStore, manifest: Manifest) -> list[str]:
    """Every way the files differ from the manifest (empty: it verifies): a file missing, its sha256,
    its row count, or its table, version or fingerprint as written in the file itself."""
    problems: list[str] = []
    for f in manifest.files:
        try:
            data = await store.get(f.key)
        except ObjectNotFound:
            problems.append(f"{f.key}: missing")
            continue
        if hashlib.sha256(data).hexdigest() != f.sha256 or len(data) != f.bytes:
            problems.append(f"{f.key}: sha256 differs from the manifest")
            continue
        try:
            pf = pq.ParquetFile(io.BytesIO(data))
        except (pa.ArrowException, OSError) as exc:
            problems.append(f"{f.key}: not a readable Parquet file ({exc})")
            continue
        meta = pf.schema_arrow.metadata or {}
        if pf.metadata.num_rows != f.rows:
            problems.append(f"{f.key}: {pf.metadata.num_rows} rows, the manifest says {f.rows}")
        written = (meta.get(META_TABLE), meta.get(META_VERSION), meta.get(META_FINGERPRINT))
        if written != (f.table.encode(), str(f.version).encode(), f.fingerprint.encode()):
            problems.append(f"{f.key}: table, version or schema fingerprint differs from the manifest")
    return problems


# -- settings and the schedule ----------------------------------------------------------------------

#: The embedded installation's pseudonymisation key (``data_dir/secrets/<this>``).
SECRET_NAME = "warehouse_pseudonym"


def pseudonymiser_for(settings: CoreSettings, tenant_id: str) -> Pseudonymiser:
    """The tenant's pseudonymiser: raw when its policy allows personal data, else keyed by the setting
    (embedded: generated once under data_dir; production: required, ValueError without it)."""
    raw = tenant_id in settings.warehouse_raw_personal_tenants
    key = settings.warehouse_pseudonym_key.get_secret_value()
    if not key and settings.mode == Mode.EMBEDDED:
        key = embedded_secret(settings.data_dir, SECRET_NAME)
    return Pseudonymiser(key, tenant_id, raw=raw)


def scheduled_days(now: datetime, *, export_at: str, lookback_days: int, last_run: date | None) -> list[date]:
    """The days a scheduled run exports now: none before ``export_at`` (UTC) or when today's run is
    done; else the ``lookback_days`` days up to yesterday (re-exported, so late changes land)."""
    if not export_at:
        return []
    today = now.astimezone(UTC).date()
    hh, mm = (int(x) for x in export_at.split(":"))
    if last_run == today or now.astimezone(UTC).time() < time(hh, mm):
        return []
    return [today - timedelta(days=n) for n in range(lookback_days, 0, -1)]


def scheduled_export(
    name: str,
    settings: CoreSettings,
    *,
    clock: Callable[[], datetime],
    tenants: Callable[[], Awaitable[list[str]]],
    run_day: Callable[[str, date], Awaitable[Manifest]],
) -> BackgroundLoop:
    """A service's nightly export: every tenant, the days ``scheduled_days`` names, once a day per
    process (a restart runs it again: harmless, a re-run writes the same bytes). Checks each minute."""
    last_run: date | None = None

    async def step() -> None:
        nonlocal last_run
        now = clock()
        due = scheduled_days(
            now,
            export_at=settings.warehouse_export_at,
            lookback_days=settings.warehouse_lookback_days,
            last_run=last_run,
        )
        if not due:
            return
        for tenant_id in await tenants():
            for day in due:
                m = await run_day(tenant_id, day)
                log.info(
                    "warehouse export %s %s %s: %d rows in %d files",
                    name, tenant_id, day, sum(f.rows for f in m.files), len(m.files),
                )  # fmt: skip
        last_run = now.astimezone(UTC).date()

    return BackgroundLoop(name, step, interval_s=60.0, error_delay_s=60.0)
