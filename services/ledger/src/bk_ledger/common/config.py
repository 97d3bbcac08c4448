"""Per-tenant rule configuration (规则配置): thresholds every rule reads, with national defaults."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Rules(BaseModel):
    # Strict: a tenant's thresholds are numbers; lax pydantic took ``false`` for 0 days (schemathesis).
    model_config = ConfigDict(strict=True)


class MorningCheckRules(_Rules):
    fever_c: float = Field(
        37.3, ge=36.0, le=39.0, description="temperature at or above which staff are unfit"
    )
    grace_min: int = Field(0, ge=0, le=240, description="minutes after opening before a missing check alarms")


class SampleRules(_Rules):
    min_weight_g: float = Field(125.0, gt=0, le=1000, description="least sample weight per dish per meal")
    min_keep_h: float = Field(48.0, gt=0, le=24 * 14, description="least hours a sample is kept chilled")


class PesticideRules(_Rules):
    fail_inhibition_pct: float = Field(
        50.0, gt=0, le=100, description="inhibition rate at/over which a test fails"
    )


class MethodSpec(_Rules):
    min_temperature_c: float | None = Field(None, ge=0, le=300)
    min_concentration_mg_l: float | None = Field(None, ge=0, le=10_000)
    min_duration_s: int = Field(..., ge=1, le=24 * 3600)


def _default_methods() -> dict[str, MethodSpec]:
    return {
        "boiling": MethodSpec(min_temperature_c=100, min_duration_s=600),
        "steam": MethodSpec(min_temperature_c=100, min_duration_s=600),
        "infrared": MethodSpec(min_temperature_c=120, min_duration_s=600),
        "dishwasher": MethodSpec(min_temperature_c=85, min_duration_s=40),
        "chlorine": MethodSpec(min_concentration_mg_l=250, min_duration_s=300),
    }


class DisinfectionRules(_Rules):
    methods: dict[str, MethodSpec] = Field(default_factory=_default_methods)


class ExpiryRules(_Rules):
    health_certificate_warn_days: int = Field(30, ge=0, le=365, description="warn this many days ahead")
    supplier_licence_warn_days: int = Field(30, ge=0, le=365, description="warn this many days ahead")


class RuleConfig(_Rules):
    """Everything a tenant may tune; missing sections take the defaults above."""

    morning_check: MorningCheckRules = Field(default_factory=MorningCheckRules)
    sample: SampleRules = Field(default_factory=SampleRules)
    pesticide: PesticideRules = Field(default_factory=PesticideRules)
    disinfection: DisinfectionRules = Field(default_factory=DisinfectionRules)
    expiry: ExpiryRules = Field(default_factory=ExpiryRules)
