"""The case-manager's tables share one metadata, plus the bus inbox/outbox (exactly-once effects)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from bkcore.db import add_messaging_tables

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


def import_models() -> None:
    """Import every domain's models so ``Base.metadata`` is complete (migrations, tests)."""
    from bk_cases.audit import models as _audit  # noqa: F401
    from bk_cases.cases import models as _cases  # noqa: F401
    from bk_cases.directory import models as _directory  # noqa: F401
    from bk_cases.notifications import models as _notifications  # noqa: F401
