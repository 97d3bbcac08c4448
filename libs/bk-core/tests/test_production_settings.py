"""Production mode refuses unsafe settings at start-up, each by name (the attack: deploying with
the embedded mode's conveniences or with a secret copied from this repository)."""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from bk_cases.settings import CaseSettings
from bk_public.settings import PublicSettings
from bkcore.keys import generate_private_key, private_key_pem, public_key_pem, raw_private_bytes
from bkcore.production_checks import looks_hand_typed
from bkcore.settings import CoreSettings, SettingsError, load_settings

REPO = Path(__file__).resolve().parents[3]
KEY = generate_private_key()
# Made for this run, as `openssl rand` makes them: a secret written here would be a known one.
URL_SECRET = secrets.token_urlsafe(32)
while looks_hand_typed(URL_SECRET) or looks_hand_typed(URL_SECRET[::-1]):  # about 1 in 10^5
    URL_SECRET = secrets.token_urlsafe(32)


def _production(**over: object) -> dict[str, object]:
    return {
        "mode": "production",
        "database_url": "postgresql://db/bk",
        "bus": "kafka",
        "kafka_bootstrap": "k:9092",
        "object_store": "s3",
        "s3_endpoint": "s3:9000",
        "s3_access_key": URL_SECRET[:20],
        "s3_secret_key": URL_SECRET[::-1],
        "url_signing_secret": URL_SECRET,
        "jwt_public_keys": public_key_pem(KEY.public_key()),
        **over,
    }


def _refusal(cls: type[CoreSettings] = CoreSettings, **over: object) -> str:
    with pytest.raises(SettingsError) as err:
        load_settings(cls, **_production(**over))
    return err.value.message


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("BK_"):
            monkeypatch.delenv(key)


def test_a_safe_production_configuration_starts() -> None:
    assert load_settings(CoreSettings, **_production()).mode == "production"
    cm = load_settings(
        CaseSettings,
        **_production(
            jwt_private_key=private_key_pem(KEY), audit_key=secrets.token_hex(32), phone_channels_off=True
        ),
    )
    assert cm.token_private_key() is not None


@pytest.mark.parametrize(
    ("over", "named"),
    [
        ({"bus": "inproc"}, "BK_BUS=inproc"),
        ({"object_store": "local"}, "BK_OBJECT_STORE=local"),
        ({"database_url": "sqlite+aiosqlite:///var/cases.sqlite"}, "BK_DATABASE_URL names SQLite"),
        ({"database_url": ""}, "BK_DATABASE_URL is required"),
        ({"jwt_public_keys": ""}, "BK_JWT_PUBLIC_KEYS"),
        ({"jwt_secret": URL_SECRET[::-1]}, "BK_JWT_SECRET is retired"),
        ({"url_signing_secret": ""}, "BK_URL_SIGNING_SECRET must be set"),
        (
            {"url_signing_secret": "e2e-url-secret-0123456789abcdefgh"},
            "BK_URL_SIGNING_SECRET is a known test",
        ),
        ({"url_signing_secret": "x" * 40}, "BK_URL_SIGNING_SECRET is a known test"),
        ({"s3_secret_key": "minioadmin"}, "BK_S3_SECRET_KEY is a known test"),
        ({"jwt_private_key": private_key_pem(KEY)}, "BK_JWT_PRIVATE_KEY is the case-manager's alone"),
    ],
    ids=lambda v: str(v)[:40],
)
def test_attack_unsafe_production_setting_is_refused_by_name(over: dict[str, object], named: str) -> None:
    message = _refusal(PublicSettings if "jwt_private_key" in over else CoreSettings, **over)
    assert named in message, message
    for value in over.values():
        if isinstance(value, str) and len(value) > 8 and "secret" in str(over):
            assert value not in message  # never echo a secret


def test_attack_the_url_key_reusing_the_token_key_is_refused() -> None:
    seed = raw_private_bytes(KEY)
    for reused in (seed.hex(), private_key_pem(KEY)):
        message = _refusal(CaseSettings, jwt_private_key=private_key_pem(KEY), url_signing_secret=reused)
        assert "BK_URL_SIGNING_SECRET must not be the token-signing key" in message
    assert "must not be the token-signing key" in _refusal(jwt_secret=URL_SECRET)


@pytest.mark.parametrize(
    ("over", "named"),
    [
        (
            {"webhook_urls": ["https://hooks.example.com/bk"], "webhook_secret": "k"},
            "BK_WEBHOOK_SECRET must be at least 32",
        ),
        ({"webhook_urls": ["https://hooks.example.com/bk"]}, "BK_WEBHOOK_SECRET is required"),
        (
            {"webhook_urls": ["http://hooks.example.com/bk"], "webhook_secret": URL_SECRET[::-1]},
            "must use https",
        ),
        (
            {
                "webhook_targets": {"t1": ["https://169.254.169.254/latest"]},
                "webhook_secret": URL_SECRET[::-1],
            },
            "metadata service",
        ),
        ({"webhook_urls": ["https://[fe80::1]/x"], "webhook_secret": URL_SECRET[::-1]}, "link-local"),
        (
            {
                "webhook_urls": ["https://h.example.com/x"],
                "webhook_secret": "hook-secret-0123456789abcdefghijk",
            },
            "BK_WEBHOOK_SECRET is a known test",
        ),
        (
            {"service_client_secrets": {"public-api": "short"}},
            "BK_SERVICE_CLIENT_SECRETS[public-api] must be",
        ),
        ({"service_client_secrets": {"intruder": URL_SECRET[::-1]}}, "names 'intruder'"),
    ],
    ids=lambda v: str(v)[:40],
)
def test_attack_unsafe_webhooks_and_clients_are_refused(over: dict[str, object], named: str) -> None:
    # The case-manager's own required settings given, so the webhook's refusal is the one left.
    assert named in _refusal(CaseSettings, audit_key=secrets.token_hex(32), phone_channels_off=True, **over)


def test_a_one_byte_webhook_secret_is_refused_in_every_mode() -> None:
    with pytest.raises(SettingsError, match="BK_WEBHOOK_SECRET must be at least 32"):
        load_settings(CaseSettings, webhook_urls=["http://127.0.0.1:9/hook"], webhook_secret="k")


def test_the_retired_forwarded_for_switch_is_refused() -> None:
    with pytest.raises(SettingsError, match="BK_TRUSTED_PROXY_HOPS"):
        load_settings(PublicSettings, trust_forwarded_for=True)


_LITERAL = re.compile(
    r"""(?ix)(\w*(?:secret|jwt|hmac|signing|_key|token)\w*)["']?\s*[=:]\s*\(?\s*f?["']([^"'\n]{8,})["']"""
)


def _repository_secret_literals() -> set[str]:
    files = subprocess.run(
        ["git", "ls-files", "*.py", "*.md", "*.yaml", "*.sh"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    found: set[str] = set()
    for name in files:
        if name.startswith(("libs/bk-core/src/bkproto", "web/")) or "/migrations/" in name:
            continue
        text = (REPO / name).read_text(errors="replace")
        for name, value in _LITERAL.findall(text):
            if (
                not name.lower().endswith("_name")  # the name of a secret (its file), not a secret
                and "<" not in value  # a placeholder in the docs: "<access_token>"
                and " " not in value
                and "{" not in value
                and "/" not in value
                and "." not in value
                and not re.fullmatch(r"[a-z_]+|BK_\w+", value)  # a name, not a secret
            ):
                found.add(value)
    return found


def test_every_secret_written_in_this_repository_is_refused_in_production() -> None:
    """A secret copied from a test, a doc or a chart into a deployment is refused: each literal
    assigned to a secret-like name in the repository's files is caught by the placeholder check."""
    literals = _repository_secret_literals()
    assert any("0123456789" in v for v in literals), "the scan found none of the known test secrets"
    missed = sorted(v for v in literals if not looks_hand_typed(v))
    assert not missed, f"secrets in the repository that production would accept: {missed}"


def test_a_production_service_with_an_unsafe_setting_does_not_start(tmp_path: Path) -> None:
    """The real entry point exits non-zero and names the setting."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("BK_")}
    env.update(
        BK_MODE="production",
        BK_DATA_DIR=str(tmp_path),
        BK_DATABASE_URL="postgresql://db/bk",
        BK_BUS="inproc",
        BK_URL_SIGNING_SECRET=URL_SECRET,
        BK_JWT_PUBLIC_KEYS=public_key_pem(KEY.public_key()),
    )
    proc = subprocess.run(
        [sys.executable, "-m", "bk_ledger"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode != 0
    assert "BK_BUS=inproc" in proc.stderr and "BK_OBJECT_STORE=local" in proc.stderr, proc.stderr[-2000:]
