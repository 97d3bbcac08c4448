"""Purchase and supplier rules: how long records are kept, and licence expiry."""

from __future__ import annotations

from datetime import date, timedelta

from bk_ledger.common.config import ExpiryRules
from bk_ledger.common.expiry import expiry_finding
from bk_ledger.common.findings import Finding

LEDGER = "supplier"


def add_months(day: date, months: int) -> date:
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    for d in (day.day, 30, 29, 28):  # clamp 31 Aug + 6 months to the end of February
        try:
            return date(year, month, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def expiry_date(production_date: date | None, shelf_life_days: int | None) -> date | None:
    if production_date is None or shelf_life_days is None:
        return None
    return production_date + timedelta(days=shelf_life_days)


def retain_until(*, purchase_date: date, expiry: date | None) -> date:
    """Keep records 6 months past the shelf life; without a shelf life, 2 years (食品安全法 §50)."""
    if expiry is not None:
        return add_months(expiry, 6)
    return add_months(purchase_date, 24)


def licence_findings(
    *,
    site_id: str,
    supplier_id: str,
    name: str,
    food_licence_expires: date,
    business_licence_expires: date | None,
    today: date,
    cfg: ExpiryRules,
    tz: str,
) -> list[Finding]:
    out = [
        expiry_finding(
            ledger=LEDGER,
            rule="supplier_food_licence_expiry",
            site_id=site_id,
            subject_id=supplier_id,
            label=f"供应商 {name} 食品经营许可证",
            expires=food_licence_expires,
            today=today,
            warn_days=cfg.supplier_licence_warn_days,
            tz=tz,
        )
    ]
    if business_licence_expires is not None:
        out.append(
            expiry_finding(
                ledger=LEDGER,
                rule="supplier_business_licence_expiry",
                site_id=site_id,
                subject_id=supplier_id,
                label=f"供应商 {name} 营业执照",
                expires=business_licence_expires,
                today=today,
                warn_days=cfg.supplier_licence_warn_days,
                tz=tz,
            )
        )
    return out
