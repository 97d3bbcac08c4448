"""Alembic environment of the ledger: the shared runner over the ledger's metadata."""

from bk_ledger.db import all_tables
from bkcore.db import run_alembic_env

run_alembic_env(all_tables())
