"""The inbox outlives every redelivery (#17.12): in every profile, the inbox retention the services run
with is at least twice as long as Kafka keeps a topic (and its DLQ), the longest an event can come
back after it was handled (a consumer group reset, a dead letter replayed). See bkcore.retention."""

from __future__ import annotations

import pytest
import yaml

from bkcore.settings import CoreSettings

from .test_chart import CHART, PROFILES, _render_module


def values(profile: str) -> dict:
    merged: dict = {}
    for f in ["values.yaml", *PROFILES[profile]]:
        merged = _render_module().deep_merge(merged, yaml.safe_load((CHART / f).read_text()) or {})
    return merged


@pytest.mark.parametrize("profile", PROFILES)
def test_inbox_retention_is_well_above_the_brokers(profile: str) -> None:
    v = values(profile)
    kafka_hours = v["dependencies"]["kafka"]["retentionHours"]
    default_days = CoreSettings.model_fields["inbox_retention_days"].default
    for name, svc in v["services"].items():
        days = float((svc.get("env") or {}).get("BK_INBOX_RETENTION_DAYS", default_days))
        assert days * 24 >= 2 * kafka_hours, f"{profile}/{name}: inbox {days} d vs Kafka {kafka_hours} h"
