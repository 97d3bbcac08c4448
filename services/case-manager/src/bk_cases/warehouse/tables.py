"""What the case-manager exports to the warehouse: tables, versions, and the columns that name people.

Schemas come from the SQLAlchemy tables (a migration changes the fingerprint, and the pinned
fingerprints in ``tests/test_warehouse.py`` then ask for a new version). Partitions: a case by the
day it was opened (its state as of the export: the scheduled run re-exports recent days so closures
land), a case event by when it happened, a rectification by when it was submitted, a verdict by when
its case closed; the directory and the site scores are a snapshot per day (as of the day's end).
"""

from __future__ import annotations

from bk_cases.cases.models import Case, CaseEvent, Rectification
from bk_cases.directory.models import OrgUnit, Site, Tenant, User
from bkcore.warehouse import Col, Kind, TableSpec, spec_from_table

PRODUCER = "case-manager"

#: Evidence object keys and internal bookkeeping stay out: the warehouse holds facts, not pointers.
_CASE_INTERNAL = ("open_key", "update_pending_since", "raw_snapshot_key", "annotated_snapshot_key")

CASES = spec_from_table("cases", 1, Case.__table__, exclude=_CASE_INTERNAL)
CASE_EVENTS = spec_from_table("case_events", 1, CaseEvent.__table__)
RECTIFICATIONS = spec_from_table("rectifications", 1, Rectification.__table__, exclude=("photo_keys",))
VERDICTS = TableSpec(
    "verdicts",
    1,
    (
        Col("case_id", Kind.STRING),
        Col("tenant_id", Kind.STRING),
        Col("site_id", Kind.STRING),
        Col("org_path", Kind.STRING),
        Col("source", Kind.STRING),
        Col("case_type", Kind.STRING),
        Col("camera_id", Kind.STRING),
        Col("zone", Kind.STRING),
        Col("model_version", Kind.STRING),
        Col("score", Kind.FLOAT),
        Col("verdict", Kind.STRING),
        Col("labels", Kind.JSON),
        Col("closed_at", Kind.TIMESTAMP),
    ),
    key=("case_id",),
)
TENANTS = spec_from_table("dir_tenants", 1, Tenant.__table__, key=("id",), exclude=("score_rules",))
ORG_UNITS = spec_from_table("dir_org_units", 1, OrgUnit.__table__)
SITES = spec_from_table("dir_sites", 1, Site.__table__, personal=("contacts",))
USERS = spec_from_table(
    "dir_users",
    1,
    User.__table__,
    personal=("username", "name", "phone", "wechat_openid"),
    exclude=("password_hash", "notify_channels", "notify_robot"),
)
SITE_SCORES = TableSpec(
    "site_scores",
    1,
    (
        Col("tenant_id", Kind.STRING),
        Col("site_id", Kind.STRING),
        Col("org_path", Kind.STRING),
        Col("score", Kind.FLOAT),
        Col("grade", Kind.STRING),
        Col("grade_label", Kind.STRING),
        Col("inspection_frequency", Kind.STRING),
        Col("inspection_label", Kind.STRING),
        Col("violations", Kind.INT),
        Col("complaints", Kind.INT),
        Col("ledger_findings", Kind.INT),
        Col("overdue", Kind.INT),
        Col("mean_close_h", Kind.FLOAT),
        Col("ledger_completeness", Kind.FLOAT),
        Col("ledger_days", Kind.INT),
        Col("ratings", Kind.JSON),
        Col("deductions", Kind.JSON),
        Col("list", Kind.STRING),
        Col("rank", Kind.INT),
        Col("list_reason", Kind.STRING),
        Col("window_start", Kind.TIMESTAMP),
        Col("window_end", Kind.TIMESTAMP),
        Col("rules_version", Kind.STRING),
    ),
    key=("site_id",),
)

SPECS: dict[str, TableSpec] = {
    s.name: s
    for s in (CASES, CASE_EVENTS, RECTIFICATIONS, VERDICTS, TENANTS, ORG_UNITS, SITES, USERS, SITE_SCORES)
}
TABLES: tuple[str, ...] = tuple(SPECS)
