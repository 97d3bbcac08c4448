"""Every table of the ledger, imported once so ``metadata`` is complete (Alembic, tests)."""

from bk_ledger.common import models as common
from bk_ledger.disinfection import models as disinfection
from bk_ledger.iot import models as iot
from bk_ledger.meal import models as meal
from bk_ledger.morning_check import models as morning_check
from bk_ledger.pesticide import models as pesticide
from bk_ledger.purchase import models as purchase
from bk_ledger.recall import models as recall
from bk_ledger.sample import models as sample
from bk_ledger.sites import models as sites
from bk_ledger.staff import models as staff

__all__ = [
    "common",
    "disinfection",
    "iot",
    "meal",
    "morning_check",
    "pesticide",
    "purchase",
    "recall",
    "sample",
    "sites",
    "staff",
]
