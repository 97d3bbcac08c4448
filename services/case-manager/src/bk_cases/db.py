"""The case-manager's tables share one metadata, plus the bus inbox/outbox (exactly-once effects)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from google.protobuf.message import Message
from sqlalchemy import DateTime, MetaData, bindparam, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase

from bkcore.bus.base import encode_event
from bkcore.db import add_messaging_tables, enqueue_event

MIGRATIONS = Path(__file__).parent / "migrations"
DEFAULT_SCHEMA = "case_manager"

# Stable constraint names, so Alembic migrations on SQLite (batch mode) and PostgreSQL agree.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


inbox, outbox = add_messaging_tables(Base.metadata)


# A multi-row VALUES insert is compiled anew for every batch (its size varies): ~10 % of the
# consumer's CPU under a burst. unnest() of one array keeps a single cached statement.
_CLAIM_PG = text(
    "INSERT INTO bus_inbox (consumer, event_id, handled_at) "
    "SELECT :consumer, unnest(CAST(:ids AS VARCHAR(64)[])), :now "
    "ON CONFLICT DO NOTHING RETURNING event_id"
).bindparams(bindparam("now", type_=DateTime(timezone=True)))


async def claim_events(session: AsyncSession, *, consumer: str, event_ids: Iterable[str]) -> set[str]:
    """``bkcore.db.claim_event`` for many events in one statement; returns the ids claimed now
    (the others were handled before). Rolls back with the caller's transaction."""
    ids = list(dict.fromkeys(event_ids))
    if not ids:
        return set()
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    now = datetime.now(UTC)
    if dialect == "postgresql":  # one array parameter: the statement is compiled once, not per batch size
        rows = await session.execute(_CLAIM_PG, {"consumer": consumer, "ids": ids, "now": now})
        return set(rows.scalars().all())
    insert = sqlite.insert
    stmt = (
        insert(inbox)
        .values([{"consumer": consumer, "event_id": e, "handled_at": now} for e in ids])
        .on_conflict_do_nothing()
        .returning(inbox.c.event_id)
    )
    return set((await session.scalars(stmt)).all())


async def enqueue_many(session: AsyncSession, items: Sequence[tuple[str, Message]]) -> None:
    """``bkcore.db.enqueue_event`` for many events in one executemany, in order."""
    if not items:
        return
    now = datetime.now(UTC)
    rows = []
    for topic, event in items:
        encode_event(topic, event)  # validated like a publish
        rows.append(
            {
                "topic": topic,
                "event_id": event.meta.event_id,  # type: ignore[attr-defined]
                "payload": event.SerializeToString(),
                "created_at": now,
            }
        )
    await session.execute(outbox.insert(), rows)


_STAGED = "bk_outbox_staged"


async def enqueue(session: AsyncSession, topic: str, event: Message) -> None:
    """Write ``event`` to the outbox in the caller's transaction; inside ``staged_outbox`` it is
    held and written with the others in one statement at the end (same order, same transaction)."""
    staged = session.info.get(_STAGED)
    if staged is None:
        await enqueue_event(session, outbox, topic, event)
        return
    encode_event(topic, event)  # fail here, where the event is made, not at the end
    staged.append((topic, event))


@contextlib.asynccontextmanager
async def staged_outbox(session: AsyncSession) -> AsyncIterator[None]:
    """Collect the outbox writes of a block and insert them together when it succeeds."""
    staged: list[tuple[str, Message]] = []
    session.info[_STAGED] = staged
    try:
        yield
    finally:
        session.info.pop(_STAGED, None)
    await enqueue_many(session, staged)


def tx_cache(session: AsyncSession) -> dict[Any, Any]:
    """A dict living as long as the session's current transaction: rows locked in it stay locked,
    so a second ``SELECT ... FOR UPDATE`` of the same row can be skipped."""
    txn = session.sync_session.get_transaction()
    holder = session.info.get("bk_tx_cache")
    if holder is None or holder[0] is not txn:
        holder = session.info["bk_tx_cache"] = (txn, {})
    return holder[1]  # type: ignore[no-any-return]


def import_models() -> None:
    """Import every domain's models so ``Base.metadata`` is complete (migrations, tests)."""
    from bk_cases.audit import models as _audit  # noqa: F401
    from bk_cases.auth import models as _auth  # noqa: F401
    from bk_cases.cases import models as _cases  # noqa: F401
    from bk_cases.directory import models as _directory  # noqa: F401
    from bk_cases.held import models as _held  # noqa: F401
    from bk_cases.notifications import models as _notifications  # noqa: F401
    from bk_cases.stats import models as _stats  # noqa: F401
