"""Alembic environment of the stream gateway (run through bkcore.db.Database.migrate)."""

from bk_gateway.models import metadata
from bkcore.db import run_alembic_env

run_alembic_env(metadata)
