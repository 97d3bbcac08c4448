from bk_public.models import metadata
from bkcore.db import run_alembic_env

run_alembic_env(metadata)
