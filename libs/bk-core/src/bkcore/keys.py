"""The access-token keys: Ed25519 key pairs, their PEM form, and the ``kid`` that names each one.

One issuer (the case-manager) holds the private key; every service holds only public keys, so a
service that can check a token cannot make one. A key is named by its RFC 7638 thumbprint, carried
in each token's ``kid`` header: during a rotation the verifiers hold the old and the new public key
(``BK_JWT_PUBLIC_KEYS``) and pick the right one by name, never by trying each.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----", re.DOTALL)


def key_id(public_key: Ed25519PublicKey) -> str:
    """The key's RFC 7638 JWK thumbprint (SHA-256, base64url): the same key always gets the same name."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    jwk = {"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw)}  # required members, sorted, no spaces
    return _b64url(hashlib.sha256(json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()).digest())


def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_key_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_private_key(pem: str, variable: str) -> Ed25519PrivateKey:
    """The Ed25519 private key in ``pem``; ValueError naming ``variable`` (never the value) otherwise."""
    try:
        key = serialization.load_pem_private_key(pem.strip().encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ValueError(
            f"{variable} is not a PEM private key (make one: `brightkitchen keys new`)"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{variable} must be an Ed25519 key, got {type(key).__name__}")
    return key


def load_public_keys(pem: str, variable: str) -> list[Ed25519PublicKey]:
    """Every Ed25519 public key in ``pem`` (one PEM block each: several during a rotation)."""
    blocks = [m.group(0) for m in _PEM_BLOCK.finditer(pem)]
    if not blocks:
        raise ValueError(f"{variable} holds no PEM public key")
    keys = []
    for block in blocks:
        try:
            key = serialization.load_pem_public_key(block.encode())
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise ValueError(f"{variable}: a block is not a PEM public key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError(f"{variable} must hold Ed25519 keys, got {type(key).__name__}")
        keys.append(key)
    return keys


def raw_private_bytes(key: Ed25519PrivateKey) -> bytes:
    """The 32-byte seed: to tell whether another secret setting reuses this key."""
    return key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
