"""Which ledgers can be exported, with the columns (in order) and the date column to filter on."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Column, Table

from bk_ledger.disinfection.models import disinfections
from bk_ledger.meal.models import accompanying_meals, dishes_served
from bk_ledger.morning_check.models import morning_checks
from bk_ledger.pesticide.models import pesticide_tests
from bk_ledger.purchase.models import purchases, suppliers
from bk_ledger.sample.models import sample_retentions
from bk_ledger.staff.models import exam_results, health_certificates, staff_members

_INTERNAL = {"tenant_id", "org_path"}


@dataclass(frozen=True)
class Exportable:
    table: Table
    date_col: Column

    @property
    def columns(self) -> list[str]:
        return [c.name for c in self.table.c if c.name not in _INTERNAL]


EXPORTS: dict[str, Exportable] = {
    "morning-checks": Exportable(morning_checks, morning_checks.c.check_date),
    "purchases": Exportable(purchases, purchases.c.purchase_date),
    "suppliers": Exportable(suppliers, suppliers.c.created_at),
    "pesticide-tests": Exportable(pesticide_tests, pesticide_tests.c.tested_at),
    "disinfections": Exportable(disinfections, disinfections.c.started_at),
    "samples": Exportable(sample_retentions, sample_retentions.c.meal_date),
    "accompanying-meals": Exportable(accompanying_meals, accompanying_meals.c.meal_date),
    "dishes-served": Exportable(dishes_served, dishes_served.c.meal_date),
    "staff": Exportable(staff_members, staff_members.c.created_at),
    "health-certificates": Exportable(health_certificates, health_certificates.c.expires_on),
    "exam-results": Exportable(exam_results, exam_results.c.created_at),
}
