"""Token keys for tests and harnesses: a fresh Ed25519 issuer, and the environment that hands its
private key to the issuing process and only its public key to the others (as production does)."""

from __future__ import annotations

from bkcore.auth import Principal, Role, Scope, TokenIssuer
from bkcore.keys import generate_private_key, private_key_pem, public_key_pem


def new_token_issuer(*, ttl_s: int = 12 * 3600) -> TokenIssuer:
    """An issuer with a key pair made for this test alone (never a key written in the repository)."""
    return TokenIssuer(generate_private_key(), ttl_s=ttl_s)


def issuer_env(issuer: TokenIssuer) -> dict[str, str]:
    """``BK_*`` variables of the one process that signs tokens (the case-manager)."""
    return {"BK_JWT_PRIVATE_KEY": private_key_pem(issuer._private_key)}


def verifier_env(issuer: TokenIssuer) -> dict[str, str]:
    """``BK_*`` variables of a process that only checks tokens (every other service)."""
    return {"BK_JWT_PUBLIC_KEYS": public_key_pem(issuer.public_key)}


def service_principal(name: str, tenant_id: str, *scopes: Scope) -> Principal:
    """A service identity holding ``scopes`` (issue its token with an explicit ``audience``)."""
    return Principal(
        subject=name, tenant_id=tenant_id, role=Role.SERVICE, name=name, scopes=frozenset(scopes)
    )
