"""Pure helpers of traceability: which supplier data is shown in a trace."""

from __future__ import annotations

from typing import Any

SUPPLIER_FIELDS = ("id", "name", "address", "contact", "phone", "food_licence_no", "food_licence_expires")
PURCHASE_FIELDS = (
    "id",
    "item",
    "spec",
    "quantity",
    "unit",
    "batch_no",
    "production_date",
    "expiry_date",
    "purchase_date",
    "supplier_id",
)
DISH_FIELDS = ("id", "meal_date", "meal", "dish")


def pick(row: dict[str, Any] | None, fields: tuple[str, ...]) -> dict[str, Any] | None:
    return None if row is None else {k: row.get(k) for k in fields}
