"""The case-manager's warehouse tables (#21.1): a schema change must bump the table's version, and
what names a person is pseudonymised (the end-to-end export: tests/e2e/test_warehouse_export.py)."""

from __future__ import annotations

import pytest

from bk_cases.db import import_models

import_models()

from bk_cases.warehouse import tables as t  # noqa: E402  (the models first)

# Pinned per (table, version): change a table (a migration) and this fails until its version goes up.
FINGERPRINTS = {
    ("cases", 1): "2a2600d12d57",
    ("case_events", 1): "b9d166ba1df2",
    ("rectifications", 1): "5c1423296ffb",
    ("verdicts", 1): "365d71044f1b",
    ("dir_tenants", 1): "ac9b7662c73f",
    ("dir_org_units", 1): "0efe36b197b3",
    ("dir_sites", 1): "d434aed95258",
    ("dir_users", 1): "3548293840c5",
    ("site_scores", 1): "a766eb42c91c",
}


@pytest.mark.unit
def test_a_schema_change_bumps_the_version() -> None:
    got = {(n, s.version): s.fingerprint[:12] for n, s in t.SPECS.items()}
    assert got == FINGERPRINTS, "a warehouse table changed: bump its version in bk_cases.warehouse.tables"


@pytest.mark.unit
def test_people_are_pseudonymised_and_secrets_stay_home() -> None:
    users = {c.name: c for c in t.USERS.columns}
    assert all(users[n].personal for n in ("username", "name", "phone", "wechat_openid"))
    assert "password_hash" not in users and "notify_robot" not in users
    assert {c.name for c in t.SITES.columns if c.personal} == {"contacts"}
    assert not {"raw_snapshot_key", "annotated_snapshot_key"} & {c.name for c in t.CASES.columns}
