"""The ledger's tables live on one MetaData; the bus inbox/outbox come from the shared core."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import MetaData

from bkcore.db import Database, add_messaging_tables, database_url

metadata = MetaData()
inbox, outbox = add_messaging_tables(metadata)
MIGRATIONS = Path(__file__).parent / "migrations"


def make_database(url: str, data_dir: Path, schema: str) -> Database:
    return Database(database_url(url, data_dir, "ledger"), schema=schema)


def all_tables() -> MetaData:
    """Import every domain's models so ``metadata`` knows all tables (Alembic, tests)."""
    from bk_ledger import models  # noqa: F401  (registers the tables)

    return metadata
