"""Async database sessions (SQLAlchemy 2), migrations (Alembic), and the inbox/outbox tables.

Each service owns its data: on PostgreSQL a schema of its own (``search_path``), embedded a
SQLite file of its own. Both run the same models and the same Alembic migrations.

Exactly-once *effects* on an at-least-once bus come from two tables every service gets:
- ``bus_inbox``: (consumer, event_id) of every event already handled; ``claim_event`` inserts it in
  the handler's own transaction, so a redelivered event finds it and does nothing.
- ``bus_outbox``: events to publish, written in the same transaction as the state change that
  caused them; ``OutboxRelay`` publishes them afterwards and marks them sent.
Neither grows for good: the relay also runs ``bkcore.retention`` (published rows and old claims
deleted in bounded batches; why the inbox's default is safe is written there).
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

from google.protobuf.message import Message
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    event,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.types import TypeDecorator

from bkcore.bus.base import Bus, encode_event
from bkcore.retention import MessagingRetention, RetentionPolicy
from bkcore.tasks import BackgroundLoop

log = logging.getLogger(__name__)
_SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC that always reads back aware.

    PostgreSQL keeps the offset; SQLite (embedded mode) drops it, and a naive time reached the API
    as a string without offset, which is no RFC 3339 ``date-time`` (schemathesis found the gateway's
    cameras so). A naive value written is taken as UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def database_url(configured: str, data_dir: Path, service: str) -> str:
    """The configured URL, or the service's own SQLite file under ``data_dir`` (embedded)."""
    if configured:
        if configured.startswith("postgresql://") or configured.startswith("postgres://"):
            return "postgresql+asyncpg://" + configured.split("://", 1)[1]
        return configured
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite+aiosqlite:///{(data_dir / f'{service}.sqlite').resolve()}"


class Database:
    """One service's database: engine, sessions, migrations, readiness."""

    def __init__(self, url: str, *, schema: str = "", pool_size: int = 10) -> None:
        self.url = url
        self.is_postgres = url.startswith("postgresql")
        if schema and not _SCHEMA_RE.match(schema):
            raise ValueError(f"invalid schema name {schema!r}")
        self.schema = schema if self.is_postgres else ""
        kwargs: dict[str, object] = {"pool_pre_ping": True}
        if self.is_postgres:
            kwargs["pool_size"] = pool_size
            if self.schema:
                kwargs["connect_args"] = {"server_settings": {"search_path": self.schema}}
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if not self.is_postgres:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction: committed on success, rolled back on error."""
        async with self.sessions() as session, session.begin():
            yield session

    async def migrate(self, script_location: Path) -> None:
        """Create the schema if needed and run Alembic migrations up to head."""
        if self.schema:
            async with self.engine.begin() as conn:
                await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))
        async with self.engine.begin() as conn:
            await conn.run_sync(_alembic_upgrade, str(script_location))

    async def ready(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:  # readiness reports, never raises
            log.warning("database not ready", exc_info=True)
            return False

    async def dispose(self) -> None:
        await self.engine.dispose()


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    # WAL lets readers and the one writer work at once; busy_timeout waits instead of failing.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def _alembic_upgrade(sync_conn, script_location: str) -> None:  # type: ignore[no-untyped-def]
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", script_location)
    cfg.attributes["connection"] = sync_conn
    command.upgrade(cfg, "head")


def run_alembic_env(target_metadata: MetaData) -> None:
    """Body of every service's ``migrations/env.py`` (online mode, connection passed in)."""
    from alembic import context

    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through Database.migrate (or brightkitchen db upgrade)")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def add_messaging_tables(metadata: MetaData) -> tuple[Table, Table]:
    """Declare ``bus_inbox`` and ``bus_outbox`` on a service's metadata; returns (inbox, outbox)."""
    inbox = Table(
        "bus_inbox",
        metadata,
        Column("consumer", String(100), primary_key=True),
        Column("event_id", String(64), primary_key=True),
        Column("handled_at", DateTime(timezone=True), nullable=False, index=True),  # for retention
    )
    outbox = Table(
        "bus_outbox",
        metadata,
        Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column("topic", String(100), nullable=False),
        Column("event_id", String(64), nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("published_at", DateTime(timezone=True), nullable=True, index=True),
    )
    return inbox, outbox


def _inbox_of(outbox: Table) -> Table:
    """The ``bus_inbox`` declared with ``outbox`` (``add_messaging_tables`` puts both on one metadata)."""
    return next(t for t in outbox.metadata.tables.values() if t.name == "bus_inbox")


def _insert(session: AsyncSession, table: Table):  # type: ignore[no-untyped-def]
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


async def claim_event(session: AsyncSession, inbox: Table, *, consumer: str, event_id: str) -> bool:
    """Record that ``consumer`` handles ``event_id`` now; False if it was handled before.

    Call inside the handler's transaction: if the handler fails, the claim rolls back with it.
    """
    stmt = (
        _insert(session, inbox)
        .values(consumer=consumer, event_id=event_id, handled_at=datetime.now(UTC))
        .on_conflict_do_nothing()
    )
    result = await session.execute(stmt)
    return result.rowcount == 1


async def enqueue_event(session: AsyncSession, outbox: Table, topic: str, event: Message) -> None:
    """Write ``event`` to the outbox in the caller's transaction (validated like a publish)."""
    encode_event(topic, event)
    await session.execute(
        outbox.insert().values(
            topic=topic,
            event_id=event.meta.event_id,  # type: ignore[attr-defined]
            payload=event.SerializeToString(),
            created_at=datetime.now(UTC),
        )
    )


class OutboxRelay:
    """Publishes outbox rows in order, marks them sent; wakes on ``notify`` or every ``poll_s``.

    A batch of up to ``batch`` rows goes out with ``Bus.publish_many`` (queued in id order, acks
    awaited together), so the relay pays one round trip per batch rather than per event.

    A crash between publish and mark re-publishes on restart (at-least-once); consumers dedupe.

    With a ``retention`` policy the relay also runs the messaging tables' retention beside itself
    (``self.retention``), started and stopped with it.
    """

    def __init__(
        self,
        db: Database,
        outbox: Table,
        bus: Bus,
        *,
        batch: int = 500,
        poll_s: float = 1.0,
        retention: RetentionPolicy | None = None,
    ):
        self._db, self._outbox, self._bus = db, outbox, bus
        self._batch = batch
        self._loop = BackgroundLoop("outbox-relay", self._step, interval_s=poll_s, error_delay_s=poll_s)
        self.published = 0
        self.retention = (
            MessagingRetention(db, outbox, _inbox_of(outbox), retention) if retention is not None else None
        )

    def notify(self) -> None:
        self._loop.wake()

    def start(self) -> None:
        self._loop.start()
        if self.retention is not None:
            self.retention.start()

    async def stop(self) -> None:
        if self.retention is not None:
            await self.retention.stop()
        await self._loop.stop()

    async def flush(self) -> int:
        """Publish everything pending now; returns how many were published."""
        total = 0
        while n := await self._publish_batch():
            total += n
        return total

    async def _step(self) -> bool:
        # A service starts its relay before the shared bus starts (subscriptions come first); until
        # then rows wait in the outbox, quietly, rather than failing one publish after another.
        if not getattr(self._bus, "started", True):
            return False
        return await self._publish_batch() == self._batch  # a full batch: more are waiting

    async def _publish_batch(self) -> int:
        from bkcore.bus.base import TOPICS

        t = self._outbox
        async with self._db.session() as session:
            stmt = (
                select(t.c.id, t.c.topic, t.c.payload)
                .where(t.c.published_at.is_(None))
                .order_by(t.c.id)
                .limit(self._batch)
            )
            if self._db.is_postgres:
                stmt = stmt.with_for_update(skip_locked=True)
            rows = (await session.execute(stmt)).all()
            if not rows:
                return 0
            items = [(row.topic, TOPICS[row.topic].FromString(row.payload)) for row in rows]
            publish_many = getattr(self._bus, "publish_many", None)
            if publish_many is not None:  # all queued in id order, acknowledged together
                await publish_many(items)
            else:  # a bus without it (older adapters, test doubles): one at a time, in id order
                for topic, event in items:
                    await self._bus.publish(topic, event)
            await session.execute(
                update(t).where(t.c.id.in_([r.id for r in rows])).values(published_at=datetime.now(UTC))
            )
        self.published += len(rows)
        return len(rows)
