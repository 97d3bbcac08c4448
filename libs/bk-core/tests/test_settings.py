"""Settings: a bad or missing setting stops start-up with a message naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bkcore.settings import BusKind, CoreSettings, Mode, SettingsError, load_settings


def test_defaults_are_the_embedded_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("BK_"):
            monkeypatch.delenv(key)
    s = load_settings(CoreSettings)
    assert s.mode == Mode.EMBEDDED and s.bus == BusKind.INPROC and s.database_url == ""


def test_invalid_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BK_HTTP_PORT", "eighty")
    with pytest.raises(SettingsError) as err:
        load_settings(CoreSettings)
    assert "BK_HTTP_PORT" in err.value.message and "eighty" in err.value.message


def test_secret_values_are_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BK_MODE", "production")
    monkeypatch.setenv("BK_DATABASE_URL", "postgresql://db/bk")
    monkeypatch.setenv("BK_URL_SIGNING_SECRET", "")
    monkeypatch.setenv("BK_JWT_PRIVATE_KEY", "not-a-key-but-secret")
    with pytest.raises(SettingsError) as err:
        load_settings(CoreSettings)
    assert "BK_JWT_PRIVATE_KEY is not a PEM private key" in err.value.message
    assert "not-a-key-but-secret" not in err.value.message


@pytest.mark.parametrize("variable", ["BK_URL_SIGNING_SECRET"])
def test_a_short_hmac_key_is_refused_by_name_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
) -> None:
    monkeypatch.setenv(variable, "sixteen-chars-ok")  # the old minimum: weak for HMAC-SHA256
    with pytest.raises(SettingsError) as err:
        load_settings(CoreSettings)
    assert f"{variable} must be at least 32 bytes" in err.value.message
    assert "sixteen-chars-ok" not in err.value.message
    monkeypatch.setenv(variable, "x" * 31)
    with pytest.raises(SettingsError, match=variable):
        load_settings(CoreSettings)
    monkeypatch.setenv(variable, "x" * 32)
    assert load_settings(CoreSettings)


def test_kafka_needs_bootstrap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BK_BUS", "kafka")
    monkeypatch.delenv("BK_KAFKA_BOOTSTRAP", raising=False)
    with pytest.raises(SettingsError, match="BK_KAFKA_BOOTSTRAP"):
        load_settings(CoreSettings)


@pytest.mark.parametrize("module", ["bk_cases", "bk_ledger", "bk_gateway", "bk_detector", "bk_public"])
def test_service_refuses_to_start_on_a_bad_setting(module: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Each service's real entry point exits non-zero and says which variable is wrong."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BK_")}
    env.update(BK_HTTP_PORT="not-a-port", BK_DATA_DIR=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-m", module], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert proc.returncode != 0
    assert "BK_HTTP_PORT" in proc.stderr, proc.stderr[-2000:]
