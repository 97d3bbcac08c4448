"""Pure rules of a recall: the report it writes, and the alarm each affected site receives."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bk_ledger.common.findings import Finding, Severity

LEDGER = "supplier"
RULE = "supplier_recall"


def alert_id(recall_id: str, site_id: str) -> str:
    """One alert per recall and site: a second recall of the same supplier is a fresh signal (the
    case-manager joins it to the site's open case about that supplier, by subject)."""
    return f"recall:{recall_id}:{site_id}"


def _day(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def site_report(
    site: Mapping[str, str],
    purchases: Iterable[Mapping[str, Any]],
    dishes: Iterable[Mapping[str, Any]],
    samples: Iterable[Mapping[str, Any]],
) -> dict[str, Any]:
    """One site's part of a report, by name (what a manager looks for in the fridge), ids alongside."""
    return {
        "site_id": site["site_id"],
        "site_name": site["name"],
        "purchases": [
            {
                "id": p["id"],
                "item": p["item"],
                "batch_no": p["batch_no"],
                "quantity": p["quantity"],
                "unit": p["unit"],
                "purchase_date": _day(p["purchase_date"]),
            }
            for p in purchases
        ],
        "dishes": [
            {"id": d["id"], "dish": d["dish"], "meal_date": _day(d["meal_date"]), "meal": d["meal"]}
            for d in dishes
        ],
        "samples": [
            {
                "id": s["id"],
                "dish": s["dish"],
                "meal_date": _day(s["meal_date"]),
                "meal": s["meal"],
                "fridge": s["fridge"],
                "weight_g": s["weight_g"],
                "disposed": s["disposed_at"] is not None,
            }
            for s in samples
        ],
    }


def totals(sites: list[dict[str, Any]]) -> dict[str, int]:
    return {
        "sites": len(sites),
        "purchases": sum(len(s["purchases"]) for s in sites),
        "dishes": sum(len(s["dishes"]) for s in sites),
        "samples": sum(len(s["samples"]) for s in sites),
    }


def what(supplier_name: str, licence_no: str, batch: Mapping[str, str] | None) -> str:
    label = f"供应商 {supplier_name} ({licence_no})"
    return f"{label} 批次 {batch['item']} {batch['batch_no']}" if batch else label


def site_finding(
    *, site: Mapping[str, Any], supplier_id: str, recalled: str, reason: str, recall_id: str
) -> Finding:
    """The alarm of one affected site: graded and opened as a case by the case-manager, about the
    supplier (its subject), with what the site must pull from use and from the sample fridge."""
    dishes = sorted({d["dish"] for d in site["dishes"]})
    kept = [s for s in site["samples"] if not s["disposed"]]
    message = (
        f"召回 Recall: {recalled} — {reason}. 涉及菜品 dishes: {'、'.join(dishes) or '无 none'}; "
        f"留样 retained samples: {len(kept)}. 请立即停用并封存 stop using and seal."
    )
    return Finding(
        LEDGER,
        RULE,
        site["site_id"],
        supplier_id,
        Severity.ALARM,
        message[:500],
        details={
            "recall_id": recall_id,
            "purchases": str(len(site["purchases"])),
            "dishes": str(len(site["dishes"])),
            "samples": str(len(site["samples"])),
        },
    )
