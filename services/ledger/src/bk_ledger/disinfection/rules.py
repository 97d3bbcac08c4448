"""Disinfection rule: the run must reach its method's temperature (or concentration) and time."""

from __future__ import annotations

from bk_ledger.common.config import DisinfectionRules
from bk_ledger.common.findings import Finding, Severity

LEDGER = "disinfection"


def shortfalls(
    *,
    method: str,
    temperature_c: float | None,
    concentration_mg_l: float | None,
    duration_s: float,
    cfg: DisinfectionRules,
) -> list[str]:
    """What falls short of the method's spec; empty when compliant (meeting the spec exactly passes)."""
    spec = cfg.methods.get(method)
    if spec is None:
        return [f"未配置的消毒方式 unknown method {method}"]
    out = []
    if spec.min_temperature_c is not None and (
        temperature_c is None or temperature_c < spec.min_temperature_c
    ):
        out.append(f"温度 {temperature_c}°C < {spec.min_temperature_c:g}°C")
    if spec.min_concentration_mg_l is not None and (
        concentration_mg_l is None or concentration_mg_l < spec.min_concentration_mg_l
    ):
        out.append(f"浓度 {concentration_mg_l} mg/L < {spec.min_concentration_mg_l:g} mg/L")
    if duration_s < spec.min_duration_s:
        out.append(f"时长 {duration_s:g}s < {spec.min_duration_s}s")
    return out


def below_spec_finding(*, site_id: str, record_id: str, method: str, problems: list[str]) -> Finding:
    return Finding(
        LEDGER,
        "disinfection_below_spec",
        site_id,
        record_id,
        Severity.ALARM,
        f"餐具消毒不达标 ({method}): " + "; ".join(problems),
        details={"method": method},
    )
