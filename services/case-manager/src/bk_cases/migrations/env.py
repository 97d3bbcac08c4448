"""Alembic environment of the case-manager (run through ``Database.migrate``)."""

from bk_cases.db import Base, import_models
from bkcore.db import run_alembic_env

import_models()
run_alembic_env(Base.metadata)
