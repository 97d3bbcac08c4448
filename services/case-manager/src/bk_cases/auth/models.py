"""The login throttle's table (``bkcore.throttle``): failures per account and per client IP."""

from __future__ import annotations

from bk_cases.db import Base
from bkcore.throttle import throttle_table

login_throttle = throttle_table(Base.metadata, "login_throttle")
