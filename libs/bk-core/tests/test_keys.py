"""Token keys: named by their RFC 7638 thumbprint, loaded from PEM, bad input refused by name."""

from __future__ import annotations

import base64
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1
from cryptography.hazmat.primitives.asymmetric.ec import generate_private_key as ec_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bkcore.keys import (
    generate_private_key,
    key_id,
    load_private_key,
    load_public_keys,
    private_key_pem,
    public_key_pem,
)
from bkcore.secrets import TOKEN_KEY_NAME, embedded_token_key


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_key_id_is_the_rfc_7638_thumbprint() -> None:
    # RFC 8037, appendix A.1 (the key) and A.3 (its JWK thumbprint).
    key = Ed25519PrivateKey.from_private_bytes(_b64("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"))
    assert key_id(key.public_key()) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_pem_round_trip_and_several_public_keys() -> None:
    a, b = generate_private_key(), generate_private_key()
    assert key_id(load_private_key(private_key_pem(a), "V").public_key()) == key_id(a.public_key())
    both = load_public_keys(public_key_pem(a.public_key()) + "\n" + public_key_pem(b.public_key()), "V")
    assert [key_id(k) for k in both] == [key_id(a.public_key()), key_id(b.public_key())]


def test_bad_keys_are_refused_by_variable_name_never_by_value() -> None:
    with pytest.raises(ValueError, match="BK_JWT_PRIVATE_KEY is not a PEM private key") as err:
        load_private_key("s3cret-not-a-key", "BK_JWT_PRIVATE_KEY")
    assert "s3cret" not in str(err.value)
    with pytest.raises(ValueError, match="BK_JWT_PUBLIC_KEYS holds no PEM"):
        load_public_keys("nothing here", "BK_JWT_PUBLIC_KEYS")
    ec = ec_key(SECP256R1())
    ec_pem = ec.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with pytest.raises(ValueError, match="must be an Ed25519 key"):
        load_private_key(ec_pem, "BK_JWT_PRIVATE_KEY")


def test_embedded_key_pair_is_persistent_private_and_shared_by_racers(tmp_path: Path) -> None:
    with ThreadPoolExecutor(8) as pool:
        kids = {key_id(k.public_key()) for k in pool.map(lambda _: embedded_token_key(tmp_path), range(16))}
    assert len(kids) == 1
    assert key_id(embedded_token_key(tmp_path).public_key()) in kids  # the same after a "restart"
    path = tmp_path / "secrets" / TOKEN_KEY_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == [TOKEN_KEY_NAME]  # no temp files left
