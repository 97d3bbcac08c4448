"""Pure rules at their boundaries (no I/O)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from bk_ledger.common.config import DisinfectionRules, ExpiryRules, PesticideRules, SampleRules
from bk_ledger.common.expiry import expiry_finding
from bk_ledger.completeness.models import DayCounts
from bk_ledger.completeness.rules import score
from bk_ledger.disinfection.rules import shortfalls
from bk_ledger.iot import rules as iot
from bk_ledger.pesticide.rules import passes
from bk_ledger.purchase.rules import add_months, retain_until
from bk_ledger.sample.rules import kept_too_short, underweight
from bk_ledger.staff.rules import passed
from bk_ledger.staff.rules import score as exam_score

T0 = datetime(2026, 9, 1, tzinfo=UTC)


def test_sample_boundaries() -> None:
    cfg = SampleRules()
    assert underweight(124.9, cfg) and not underweight(125, cfg)
    assert kept_too_short(T0, T0 + timedelta(hours=47, minutes=59), cfg)
    assert not kept_too_short(T0, T0 + timedelta(hours=48), cfg)
    assert not underweight(100, SampleRules(min_weight_g=100))  # per-tenant configurable


def test_pesticide_boundary() -> None:
    assert passes(49.9, PesticideRules()) and not passes(50.0, PesticideRules())
    assert passes(50.0, PesticideRules(fail_inhibition_pct=60))


def test_disinfection_per_method() -> None:
    cfg = DisinfectionRules()
    assert (
        shortfalls(method="dishwasher", temperature_c=85, concentration_mg_l=None, duration_s=40, cfg=cfg)
        == []
    )
    assert shortfalls(
        method="dishwasher", temperature_c=84.9, concentration_mg_l=None, duration_s=40, cfg=cfg
    )
    assert shortfalls(method="dishwasher", temperature_c=85, concentration_mg_l=None, duration_s=39, cfg=cfg)
    assert shortfalls(method="infrared", temperature_c=119, concentration_mg_l=None, duration_s=600, cfg=cfg)
    assert (
        shortfalls(method="boiling", temperature_c=100, concentration_mg_l=None, duration_s=600, cfg=cfg)
        == []
    )
    assert (
        shortfalls(method="chlorine", temperature_c=None, concentration_mg_l=250, duration_s=300, cfg=cfg)
        == []
    )
    assert shortfalls(method="chlorine", temperature_c=None, concentration_mg_l=249, duration_s=300, cfg=cfg)


def test_expiry_boundaries() -> None:
    kw = {"ledger": "x", "rule": "r", "site_id": "s", "subject_id": "a", "label": "l", "tz": "Asia/Shanghai"}
    today = date(2026, 9, 1)
    assert expiry_finding(expires=today, today=today, warn_days=30, **kw).severity == "warning"
    assert (
        expiry_finding(expires=today - timedelta(days=1), today=today, warn_days=30, **kw).severity == "alarm"
    )
    assert expiry_finding(expires=today + timedelta(days=30), today=today, warn_days=30, **kw).active
    assert not expiry_finding(expires=today + timedelta(days=31), today=today, warn_days=30, **kw).active
    assert ExpiryRules().health_certificate_warn_days == 30


def test_retention_period() -> None:
    assert add_months(date(2026, 8, 31), 6) == date(2027, 2, 28)
    assert retain_until(purchase_date=date(2026, 9, 1), expiry=date(2026, 10, 1)) == date(2027, 4, 1)
    assert retain_until(purchase_date=date(2026, 9, 1), expiry=None) == date(2028, 9, 1)


def test_iot_window_and_parsing() -> None:
    m = 60_000
    series = [(0, 5.0), (10 * m, 8.5), (20 * m, 9.0), (40 * m, 9.5)]
    assert iot.excursion_start(series, 0, 8) == 10 * m
    f = iot.threshold_finding(
        site_id="s",
        sensor_id="x",
        name="n",
        unit="°C",
        latest=series[-1],
        start_ms=10 * m,
        window_s=1800,
        low=0,
        high=8,
    )
    assert f.active  # exactly 30 min over
    f = iot.threshold_finding(
        site_id="s",
        sensor_id="x",
        name="n",
        unit="°C",
        latest=(39 * m, 9.0),
        start_ms=10 * m,
        window_s=1800,
        low=0,
        high=8,
    )
    assert not f.active
    assert not iot.out_of_range(8.0, 0, 8) and iot.out_of_range(8.01, 0, 8)
    now = 1_800_000_000_000
    assert iot.parse_reading({"ts": now / 1000, "value": 4}, now) == (now, 4.0)
    for bad in (
        {"ts": "yesterday", "value": 1},
        {"ts": now / 1000, "value": "hot"},
        {"value": 1},
        7,
        {"ts": now / 1000 + 3600, "value": 1},
        {"ts": now / 1000, "value": float("nan")},
        {"ts": now / 1000, "value": 1e9},
        {"ts": "2026-09-01T00:00:00", "value": 1},
    ):
        assert isinstance(iot.parse_reading(bad, now), str), bad
    assert iot.silence_finding(
        site_id="s", sensor_id="x", name="n", last_seen_ms=0, registered_ms=0, now_ms=900_001, silence_s=900
    ).active
    assert not iot.silence_finding(
        site_id="s", sensor_id="x", name="n", last_seen_ms=0, registered_ms=0, now_ms=900_000, silence_s=900
    ).active


def test_completeness_and_exam() -> None:
    full = DayCounts(
        staff=2,
        staff_checked=2,
        meals_served=frozenset({"lunch"}),
        dishes_served=2,
        dishes_sampled=2,
        samples=2,
        disinfections=1,
        pesticide_tests=1,
        accompanied_meals=frozenset({"lunch"}),
    )
    assert score(full, is_school=True).score == 100.0
    half = DayCounts(
        staff=2,
        staff_checked=1,
        meals_served=frozenset(),
        dishes_served=0,
        dishes_sampled=0,
        samples=0,
        disinfections=0,
        pesticide_tests=1,
    )
    res = score(half, is_school=False)
    assert res.score == 37.5 and res.gaps == ["disinfection", "morning_check", "sample_retention"]
    assert exam_score({"a": 1, "b": 0}, {"a": 1, "b": 2, "c": 0}) == 33
    assert passed(60, 60) and not passed(59, 60)
