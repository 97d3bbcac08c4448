"""Build a service Runtime from settings: the one place adapters are chosen."""

from __future__ import annotations

from bkcore.auth import TokenIssuer, TokenVerifier
from bkcore.bus.factory import make_bus
from bkcore.clock import Clock, SystemClock
from bkcore.objstore.factory import make_object_store
from bkcore.secrets import embedded_token_key
from bkcore.service import Runtime
from bkcore.settings import CoreSettings, Mode


def token_verifier(settings: CoreSettings) -> TokenVerifier:
    """A TokenIssuer where the private key is configured (the case-manager); elsewhere only a
    TokenVerifier. Embedded with no key configured: the installation's generated key pair."""
    private, public = settings.token_private_key(), settings.token_public_keys()
    if private is None and not public:
        if settings.mode != Mode.EMBEDDED:  # the settings validator already refuses this
            raise ValueError("BK_JWT_PUBLIC_KEYS must be set outside embedded mode")
        private = embedded_token_key(settings.data_dir)
    if private is not None:
        return TokenIssuer(private, accept=public)
    return TokenVerifier(public)


def build_runtime(settings: CoreSettings, *, clock: Clock | None = None) -> Runtime:
    return Runtime(
        settings=settings,
        bus=make_bus(settings),
        store=make_object_store(settings),
        tokens=token_verifier(settings),
        clock=clock or SystemClock(),
    )
